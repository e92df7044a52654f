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

    public static string Normalize(string? name, string what)
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
