using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Estargz.Tools.Conversion;
using Snapshotter.Estargz;
using Snapshotter.Oci;

namespace Estargz.Tools.Commands;

/// <summary>
/// <c>estargz verify BLOB</c>: the footer, the TOC digest, every chunk digest, and that the tar
/// stream matches the TOC. Exit 0 only when everything checks out.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var blob = new Argument<FileInfo>("blob") { Description = "an eStargz layer blob" };
        var tocDigest = new Option<string?>("--toc-digest") { Description = "the TOC digest the layer must have (the toc.digest annotation)" };
        var json = new Option<bool>("--json") { Description = "print the result as JSON on stdout" };
        var command = new Command("verify", "check an eStargz layer completely: footer, TOC digest, every chunk, tar stream") { blob, tocDigest, json };
        command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            var path = result.GetRequiredValue(blob).FullName;
            var expected = result.GetValue(tocDigest) is { } text ? Digest.Parse(text) : (Digest?)null;
            using var source = new FileBlobSource(path);
            var verification = await EstargzVerifier.VerifyAsync(source, expected, cancellationToken: cancellationToken);
            if (result.GetValue(json))
            {
                var summary = new VerificationSummary(path, verification.IsValid, verification.TocDigest, verification.TocEntryCount,
                    verification.VerifiedChunkCount, verification.VerifiedBytes, verification.Problems);
                Console.WriteLine(JsonSerializer.Serialize(summary, ConversionJson.Default.VerificationSummary));
            }
            else if (verification.IsValid)
            {
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                    "ok: {0}: TOC {1}, {2} entries, {3} chunks ({4:N0} bytes) verified, tar stream matches the TOC",
                    Path.GetFileName(path), verification.TocDigest, verification.TocEntryCount, verification.VerifiedChunkCount, verification.VerifiedBytes));
            }
            foreach (var problem in verification.Problems)
            {
                CommandRunner.Error(problem);
            }
            return verification.IsValid ? ExitCodes.Success : ExitCodes.BadInput;
        }));
        return command;
    }
}
