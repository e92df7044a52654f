using System.CommandLine;
using Snapshotter.Estargz;

namespace Estargz.Tools.Commands;

/// <summary><c>estargz toc-digest BLOB</c>: the value for the <c>containerd.io/snapshot/stargz/toc.digest</c> annotation.</summary>
internal static class TocDigestCommand
{
    public static Command Create()
    {
        var blob = new Argument<FileInfo>("blob") { Description = "an eStargz layer blob" };
        var command = new Command("toc-digest", "print the TOC digest of an eStargz layer (sha256 of its uncompressed TOC JSON)") { blob };
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            using var source = new FileBlobSource(result.GetRequiredValue(blob).FullName);
            var reader = await EstargzReader.OpenAsync(source, expectedTocDigest: null, cancellationToken: cancellationToken);
            Console.WriteLine(reader.TocDigest);
            return ExitCodes.Success;
        }));
        return command;
    }
}
