namespace Snapshotter.Benchmark.Model;

/// <summary>
/// A command line given as one string of space-separated words with <c>{name}</c> placeholders,
/// e.g. <c>stargzctl --address {address} rpull {ref}</c>; no shell, no quoting.
/// </summary>
internal static class CommandTemplate
{
    /// <summary>The placeholders a pull command may use.</summary>
    public static readonly IReadOnlyList<string> PullPlaceholders = ["address", "hosts", "snapshotter", "ref"];

    public static IReadOnlyList<string> Expand(string template, IReadOnlyDictionary<string, string> values)
    {
        var words = template.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            throw new FormatException("empty command");
        }
        return words.Select(word => ExpandWord(word, template, values)).ToList();
    }

    /// <summary>Checks a template's placeholders without values for them (for early usage errors).</summary>
    public static void Validate(string template, IReadOnlyList<string> allowed) =>
        Expand(template, allowed.ToDictionary(name => name, name => name, StringComparer.Ordinal));

    private static string ExpandWord(string word, string template, IReadOnlyDictionary<string, string> values)
    {
        var result = new System.Text.StringBuilder();
        var position = 0;
        while (position < word.Length)
        {
            var open = word.IndexOf('{', position);
            if (open < 0)
            {
                result.Append(word, position, word.Length - position);
                break;
            }
            var close = word.IndexOf('}', open);
            if (close < 0)
            {
                throw new FormatException($"command '{template}': unclosed '{{' in '{word}'");
            }
            var name = word[(open + 1)..close];
            if (!values.TryGetValue(name, out var value))
            {
                throw new FormatException($"command '{template}': unknown placeholder {{{name}}}; known: {string.Join(", ", values.Keys.Select(k => "{" + k + "}"))}");
            }
            result.Append(word, position, open - position).Append(value);
            position = close + 1;
        }
        return result.ToString();
    }
}
