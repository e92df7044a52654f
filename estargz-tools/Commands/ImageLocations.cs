using System.CommandLine;
using Estargz.Tools.Conversion;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Estargz.Tools.Commands;

/// <summary>
/// The registry options of commands that read or push images, and how a command-line argument
/// names an image: <c>docker://REF</c>, or a reference whose first component is a registry host
/// (<c>ghcr.io/o/i:t</c>, <c>localhost:5000/i</c>), is in a registry; anything else is a local path.
/// </summary>
internal sealed class ImageLocations
{
    private const string DockerTransport = "docker://";

    private readonly Option<string?> _temporaryDirectory = new("--temp-dir") { Description = "where layers are downloaded and converted (default: the system temporary directory)" };

    public Option<bool> PlainHttp { get; } = new("--plain-http") { Description = "let registries that do not speak TLS be reached over plain http (loopback ones always may)" };

    public Option<string?> HostsDirectory { get; } = new("--hosts-dir") { Description = "containerd's certs.d directory of <host>/hosts.toml files (mirrors, CAs, client certificates)" };

    public IEnumerable<Option> Options => [PlainHttp, HostsDirectory, _temporaryDirectory];

    public static bool TryParseReference(string text, out ImageReference reference)
    {
        if (text.StartsWith(DockerTransport, StringComparison.Ordinal))
        {
            reference = ImageReference.Parse(text[DockerTransport.Length..]);
            return true;
        }
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? "" : text[..slash];
        var hasRegistryHost = first.Length > 0 && first != "." && first != ".." &&
            (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost");
        return ImageReference.TryParse(hasRegistryHost ? text : null, out reference);
    }

    /// <summary>A reference to push to: a tag, not a digest (the digest is the result).</summary>
    public static ImageReference PushReference(ImageReference reference) =>
        reference.Digest is null ? reference : throw new FormatException($"'{reference}' names a digest; push to a tag (the digest is known only after conversion)");

    public RegistryClient CreateClient(ParseResult result) => new(new RegistryClientOptions
    {
        PlainHttp = result.GetValue(PlainHttp),
        HostsDirectory = result.GetValue(HostsDirectory),
    });

    public string TemporaryDirectory(ParseResult result) => result.GetValue(_temporaryDirectory) ?? Path.GetTempPath();

    /// <summary>An OCI layout directory, or the image a registry reference names.</summary>
    public static async Task<IImageSource> OpenSourceAsync(string text, IRegistryClient registry, string temporaryDirectory, CancellationToken cancellationToken)
    {
        if (Directory.Exists(text))
        {
            return new LayoutImageSource(await OciImageLayout.OpenAsync(text, cancellationToken));
        }
        return TryParseReference(text, out var reference)
            ? new RegistryImageSource(registry, reference, temporaryDirectory)
            : throw new FileNotFoundException($"source '{text}' is neither a directory, a layer file, nor an image reference with a registry host (e.g. docker.io/library/alpine:3, or docker://alpine)", text);
    }
}
