using System.Text.RegularExpressions;

namespace Snapshotter.Oci;

/// <summary>
/// A normalised image reference, <c>registry/repository[:tag][@digest]</c>, parsed like Docker's
/// <c>reference.ParseNormalizedNamed</c>: <c>ubuntu</c> is <c>docker.io/library/ubuntu:latest</c>,
/// <c>localhost:5000/x</c> names the registry <c>localhost:5000</c>.
/// </summary>
public sealed partial record ImageReference
{
    public const string DockerHub = "docker.io";
    public const string DefaultTag = "latest";
    private const int MaxNameLength = 255;

    private ImageReference(string registry, string repository, string? tag, Digest? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The registry host (and port), e.g. <c>docker.io</c>, <c>ghcr.io</c>, <c>localhost:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>The repository path inside the registry, e.g. <c>library/ubuntu</c>.</summary>
    public string Repository { get; }

    /// <summary>The tag; <c>latest</c> when the text had neither tag nor digest.</summary>
    public string? Tag { get; }

    public Digest? Digest { get; }

    /// <summary><c>registry/repository</c>.</summary>
    public string Name => Registry + "/" + Repository;

    /// <summary>What goes after <c>/manifests/</c> in a registry URL: the digest if known, else the tag.</summary>
    public string ManifestReference => Digest?.Value ?? Tag!;

    public static ImageReference Parse(string text) =>
        TryParse(text, out var reference, out var error) ? reference : throw new FormatException($"invalid image reference '{Shorten(text)}': {error}");

    public static bool TryParse(string? text, out ImageReference reference) => TryParse(text, out reference, out _);

    public ImageReference WithDigest(Digest digest) => new(Registry, Repository, Tag, digest);

    public ImageReference WithTag(string tag)
    {
        if (!TagPattern().IsMatch(tag))
        {
            throw new FormatException($"invalid tag '{Shorten(tag)}'");
        }
        return new ImageReference(Registry, Repository, tag, null);
    }

    /// <summary>The same repository in another registry (a mirror, or a conversion target).</summary>
    public ImageReference WithName(string registry, string repository) =>
        Parse($"{registry}/{repository}{(Tag is null ? "" : ":" + Tag)}{(Digest is null ? "" : "@" + Digest.Value)}");

    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is { } digest ? "@" + digest.Value : "");

    private static bool TryParse(string? text, out ImageReference reference, out string error)
    {
        reference = null!;
        if (string.IsNullOrEmpty(text))
        {
            error = "empty reference";
            return false;
        }
        if (text.Length > 4096 || text.Any(char.IsWhiteSpace))
        {
            error = text.Length > 4096 ? "too long" : "contains whitespace";
            return false;
        }

        var remainder = text;
        Digest? digest = null;
        var at = remainder.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            if (!Oci.Digest.TryParse(remainder[(at + 1)..], out var parsed))
            {
                error = "the digest after '@' is not sha256:<64 lowercase hex digits>";
                return false;
            }
            digest = parsed;
            remainder = remainder[..at];
        }

        string? tag = null;
        var lastSlash = remainder.LastIndexOf('/');
        var colon = remainder.LastIndexOf(':');
        if (colon > lastSlash)
        {
            tag = remainder[(colon + 1)..];
            remainder = remainder[..colon];
            if (!TagPattern().IsMatch(tag))
            {
                error = $"invalid tag '{Shorten(tag)}' (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')";
                return false;
            }
        }

        string registry;
        string repository;
        var slash = remainder.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? "" : remainder[..slash];
        if (slash >= 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost" || first.Any(char.IsAsciiLetterUpper)))
        {
            registry = first;
            repository = remainder[(slash + 1)..];
            if (!DomainPattern().IsMatch(registry))
            {
                error = $"invalid registry host '{Shorten(registry)}'";
                return false;
            }
        }
        else
        {
            registry = DockerHub;
            repository = remainder;
        }
        if (registry is "index.docker.io" or "registry-1.docker.io")
        {
            registry = DockerHub;
        }
        if (registry == DockerHub && !repository.Contains('/', StringComparison.Ordinal))
        {
            repository = "library/" + repository;
        }

        if (repository.Length == 0)
        {
            error = "no repository name";
            return false;
        }
        if (repository.Any(char.IsAsciiLetterUpper))
        {
            error = "repository name must be lowercase";
            return false;
        }
        if (!repository.Split('/').All(component => ComponentPattern().IsMatch(component)))
        {
            error = $"invalid repository name '{Shorten(repository)}' (components of [a-z0-9] separated by '.', '_', '__' or '-', joined by '/')";
            return false;
        }
        if (registry.Length + 1 + repository.Length > MaxNameLength)
        {
            error = $"name longer than {MaxNameLength} characters";
            return false;
        }

        if (tag is null && digest is null)
        {
            tag = DefaultTag;
        }
        reference = new ImageReference(registry, repository, tag, digest);
        error = "";
        return true;
    }

    private static string Shorten(string? text) =>
        text is null ? "(null)" : text.Length <= 100 ? text : text[..100] + "…";

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex ComponentPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DomainPattern();
}
