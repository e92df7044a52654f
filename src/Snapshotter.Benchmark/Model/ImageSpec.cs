namespace Snapshotter.Benchmark.Model;

/// <summary>
/// One image under test: the same content as a plain (gzip) image for the full pull, as an eStargz
/// image for the lazy pull and optionally as an eStargz image optimized for its workload, and the
/// URL that answers HTTP 200 once its service is ready.
/// </summary>
internal sealed record ImageSpec(string Name, string PlainRef, string LazyRef, string? OptimizedRef, Uri ReadyUrl, IReadOnlyList<string> Command)
{
    public const string Syntax = "name=NAME,plain=REF,lazy=REF[,optimized=REF],url=URL[,command=ARGS]";

    /// <summary>
    /// Parses <see cref="Syntax"/>: comma-separated keys; <c>command</c> (space-separated words,
    /// replacing the image's entrypoint and cmd) must come last, as it may hold commas.
    /// </summary>
    public static ImageSpec Parse(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var rest = text;
        while (rest.Length > 0)
        {
            var equals = rest.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new FormatException($"image '{text}': expected {Syntax}");
            }
            var key = rest[..equals].Trim();
            var afterKey = rest[(equals + 1)..];
            var comma = key == "command" ? -1 : afterKey.IndexOf(',', StringComparison.Ordinal);
            var value = comma < 0 ? afterKey : afterKey[..comma];
            rest = comma < 0 ? "" : afterKey[(comma + 1)..];
            if (key is not ("name" or "plain" or "lazy" or "optimized" or "url" or "command"))
            {
                throw new FormatException($"image '{text}': unknown key '{key}'; expected {Syntax}");
            }
            if (!values.TryAdd(key, value.Trim()))
            {
                throw new FormatException($"image '{text}': '{key}' given twice");
            }
        }
        string Required(string key) =>
            values.TryGetValue(key, out var value) && value.Length > 0 ? value : throw new FormatException($"image '{text}': '{key}' is missing; expected {Syntax}");
        var url = Required("url");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var readyUrl) || readyUrl.Scheme is not ("http" or "https"))
        {
            throw new FormatException($"image '{text}': url '{url}' is not an absolute http(s) URL");
        }
        foreach (var key in values.Keys.Where(k => k is "plain" or "lazy" or "optimized").Order(StringComparer.Ordinal))
        {
            if (!Oci.ImageReference.TryParse(Required(key), out _))
            {
                throw new FormatException($"image '{text}': {key} '{values[key]}' is not an image reference");
            }
        }
        var command = values.GetValueOrDefault("command", "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return new ImageSpec(Required("name"), Required("plain"), Required("lazy"), values.GetValueOrDefault("optimized"), readyUrl, command);
    }
}
