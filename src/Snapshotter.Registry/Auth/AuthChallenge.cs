using System.Net.Http.Headers;
using System.Text;

namespace Snapshotter.Registry.Auth;

internal enum AuthScheme
{
    Basic,
    Bearer,
}

/// <summary>One parsed <c>WWW-Authenticate</c> challenge, e.g. <c>Bearer realm="…",service="…",scope="…"</c>.</summary>
internal sealed record AuthChallenge(AuthScheme Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    /// <summary>The Bearer challenge if the answer has one (preferred, as containerd does), else Basic; null when neither.</summary>
    public static AuthChallenge? From(HttpHeaderValueCollection<AuthenticationHeaderValue> headers)
    {
        AuthChallenge? basic = null;
        foreach (var header in headers)
        {
            if (header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
            {
                return new AuthChallenge(AuthScheme.Bearer, ParseParameters(header.Parameter ?? ""));
            }
            if (header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
            {
                basic ??= new AuthChallenge(AuthScheme.Basic, ParseParameters(header.Parameter ?? ""));
            }
        }
        return basic;
    }

    /// <summary>Parses <c>key=value, key="quoted \" value"</c> (RFC 7235 auth-params); keys are lower-cased.</summary>
    public static Dictionary<string, string> ParseParameters(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }
            var keyStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',' && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            var key = text[keyStart..i].ToLowerInvariant();
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            if (i >= text.Length || text[i] != '=')
            {
                // A token68 or a malformed parameter: skip it.
                while (i < text.Length && text[i] != ',')
                {
                    i++;
                }
                continue;
            }
            i++;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }
                    value.Append(text[i++]);
                }
                i++;
            }
            else
            {
                while (i < text.Length && text[i] != ',' && !char.IsWhiteSpace(text[i]))
                {
                    value.Append(text[i++]);
                }
            }
            if (key.Length > 0)
            {
                result[key] = value.ToString();
            }
        }
        return result;
    }
}
