namespace Snapshotter.Estargz;

/// <summary>
/// Canonical entry names: what stargz's <c>cleanEntryName</c> yields for well-behaved names
/// (<c>./a/b/</c> → <c>a/b</c>, <c>./</c> → the root, <c>""</c>), except that names that would
/// escape the layer (absolute, or with a <c>..</c> component) are rejected instead of clamped:
/// a layer that contains them was not produced by an honest builder.
/// </summary>
internal static class EntryNames
{
    public const string Root = "";

    /// <summary>The canonical name; <paramref name="what"/> labels the entry in the exception and is only formatted on failure.</summary>
    public static string Normalize<TLabel>(string? name, TLabel what)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new EstargzFormatException($"{what} has an empty name");
        }
        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw new EstargzFormatException($"{what} name '{Printable(name)}' contains a NUL character");
        }
        if (name[0] == '/')
        {
            throw new EstargzFormatException($"{what} name '{Printable(name)}' is absolute");
        }
        if (IsCanonical(name))
        {
            return name; // the common case: no allocation
        }
        var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var kept = new List<string>(parts.Length);
        foreach (var part in parts)
        {
            if (part == "..")
            {
                throw new EstargzFormatException($"{what} name '{Printable(name)}' has a '..' component and could escape the layer root");
            }
            if (part != ".")
            {
                kept.Add(part);
            }
        }
        return string.Join('/', kept);
    }

    /// <summary>True when every component is non-empty and neither "." nor "..", with no leading or trailing slash.</summary>
    private static bool IsCanonical(ReadOnlySpan<char> name)
    {
        foreach (var range in name.Split('/'))
        {
            var part = name[range];
            if (part.IsEmpty || part is "." or "..")
            {
                return false;
            }
        }
        return true;
    }

    public static string Parent(string normalized)
    {
        var slash = normalized.LastIndexOf('/');
        return slash < 0 ? Root : normalized[..slash];
    }

    public static string BaseName(string normalized)
    {
        var slash = normalized.LastIndexOf('/');
        return slash < 0 ? normalized : normalized[(slash + 1)..];
    }

    /// <summary>A name safe to put in an exception message: bounded length, control characters escaped.</summary>
    public static string Printable(string name)
    {
        var shown = name.Length <= 200 ? name : name[..200] + "…";
        return string.Concat(shown.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
    }
}
