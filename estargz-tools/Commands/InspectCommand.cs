using System.CommandLine;
using System.Globalization;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Spectre.Console;

namespace Estargz.Tools.Commands;

/// <summary><c>estargz inspect BLOB</c>: the TOC as JSON, or as a table of entries.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var blob = new Argument<FileInfo>("blob") { Description = "an eStargz layer blob" };
        var json = new Option<bool>("--json") { Description = "print the TOC JSON as stored in the layer" };
        var tocDigest = new Option<string?>("--toc-digest") { Description = "refuse the layer unless its TOC has this digest" };
        var command = new Command("inspect", "show the table of contents of an eStargz layer") { blob, json, tocDigest };
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            var expected = result.GetValue(tocDigest) is { } text ? Digest.Parse(text) : (Digest?)null;
            using var source = new FileBlobSource(result.GetRequiredValue(blob).FullName);
            var reader = await EstargzReader.OpenAsync(source, expected, cancellationToken: cancellationToken);
            if (result.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                await stdout.WriteAsync(reader.Toc.ToJson(), cancellationToken);
                await stdout.WriteAsync("\n"u8.ToArray(), cancellationToken);
            }
            else
            {
                WriteTable(reader);
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void WriteTable(EstargzReader reader)
    {
        var console = AnsiConsole.Console;
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = 400; // Piped output: one row per entry, never wrapped names.
        }
        console.MarkupLine(CultureInfo.InvariantCulture,
            "[bold]{0}[/] layer, {1:N0} bytes, TOC at {2:N0}, TOC digest {3}, prefetch: {4}",
            reader.Format, reader.BlobSize, reader.TocOffset, reader.TocDigest, Markup.Escape(PrefetchSummary(reader)));
        var table = new Table().Border(TableBorder.Simple)
            .AddColumns("type", "mode", "uid:gid", "size", "chunks", "offset", "name");
        foreach (var entry in reader.Toc.Entries.Where(e => e.Type != TocEntryTypes.Chunk))
        {
            var chunks = entry.Type == TocEntryTypes.Regular && entry.Size > 0 ? reader.GetChunks(entry).Count : 0;
            table.AddRow(
                entry.Type,
                Convert.ToString(entry.Mode & 0xfff, 8).PadLeft(4, '0'),
                $"{entry.Uid}:{entry.Gid}",
                entry.Size.ToString("N0", CultureInfo.InvariantCulture),
                chunks == 0 ? "" : chunks.ToString(CultureInfo.InvariantCulture),
                entry.Offset == 0 ? "" : entry.Offset.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(entry.LinkName is { Length: > 0 } link ? $"{entry.Name} -> {link}" : entry.Name));
        }
        console.Write(table);
    }

    private static string PrefetchSummary(EstargzReader reader) =>
        reader.PrefetchLandmarkOffset is { } offset ? $"{offset:N0} bytes before .prefetch.landmark"
        : reader.HasNoPrefetchLandmark ? "none (.no.prefetch.landmark)"
        : "no landmark";
}
