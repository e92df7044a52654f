using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Snapshotter.Snapshots;

/// <summary>
/// containerd's filter language (its <c>filters</c> package) over snapshot fields:
/// <c>kind</c> (active, view, committed), <c>name</c>, <c>parent</c>, <c>labels.&lt;key&gt;</c>.
/// Grammar: <c>filter := and ('|' and)*</c>, <c>and := selector (',' selector)*</c>,
/// <c>selector := fieldpath [('==' | '!=' | '~=') value]</c>, <c>fieldpath := field ('.' field)*</c>;
/// fields and values may be double-quoted (Go escapes) or back-quoted; a bare fieldpath tests presence.
/// </summary>
internal sealed class SnapshotFilter
{
    private readonly List<List<Selector>> _alternatives;

    private SnapshotFilter(List<List<Selector>> alternatives)
    {
        _alternatives = alternatives;
    }

    /// <summary>Parses all expressions; the result matches a snapshot matching any of them (none = all).</summary>
    public static SnapshotFilter ParseAll(IEnumerable<string> expressions)
    {
        var alternatives = new List<List<Selector>>();
        foreach (var expression in expressions)
        {
            if (string.IsNullOrWhiteSpace(expression))
            {
                continue;
            }
            alternatives.AddRange(new Parser(expression).Parse());
        }
        return new SnapshotFilter(alternatives);
    }

    public bool Matches(SnapshotInfo info) =>
        _alternatives.Count == 0 || _alternatives.Exists(all => all.TrueForAll(s => s.Matches(info)));

    private enum Operator
    {
        Present,
        Equal,
        NotEqual,
        Matches,
    }

    private sealed record Selector(IReadOnlyList<string> FieldPath, Operator Operator, string Value, Regex? Pattern)
    {
        public bool Matches(SnapshotInfo info)
        {
            var present = TryField(info, out var value);
            return Operator switch
            {
                Operator.Present => present,
                Operator.Equal => present && value == Value,
                Operator.NotEqual => present && value != Value,
                _ => present && Pattern!.IsMatch(value),
            };
        }

        private bool TryField(SnapshotInfo info, out string value)
        {
            value = "";
            switch (FieldPath[0])
            {
                case "kind":
                    value = info.Kind switch
                    {
                        SnapshotKind.Active => "active",
                        SnapshotKind.View => "view",
                        _ => "committed",
                    };
                    return FieldPath.Count == 1;
                case "name":
                    value = info.Name;
                    return FieldPath.Count == 1;
                case "parent":
                    // Present even when empty: containerd's unpacker finds a bottom layer with parent=="".
                    value = info.Parent;
                    return FieldPath.Count == 1;
                case "labels":
                    if (FieldPath.Count < 2)
                    {
                        return false;
                    }
                    if (info.Labels.TryGetValue(string.Join('.', FieldPath.Skip(1)), out var label))
                    {
                        value = label;
                        return true;
                    }
                    return false;
                default:
                    return false;
            }
        }
    }

    private sealed class Parser(string text)
    {
        private int _position;

        public List<List<Selector>> Parse()
        {
            var alternatives = new List<List<Selector>> { ParseAnd() };
            while (Peek() == '|')
            {
                _position++;
                alternatives.Add(ParseAnd());
            }
            SkipSpace();
            if (_position != text.Length)
            {
                throw Error($"unexpected '{text[_position]}'");
            }
            return alternatives;
        }

        private List<Selector> ParseAnd()
        {
            var selectors = new List<Selector> { ParseSelector() };
            while (Peek() == ',')
            {
                _position++;
                selectors.Add(ParseSelector());
            }
            return selectors;
        }

        private Selector ParseSelector()
        {
            var path = new List<string> { ParseField() };
            while (Peek() == '.')
            {
                _position++;
                path.Add(ParseField());
            }
            var op = ParseOperator();
            if (op == Operator.Present)
            {
                return new Selector(path, op, "", null);
            }
            var value = ParseValue();
            Regex? pattern = null;
            if (op == Operator.Matches)
            {
                try
                {
                    pattern = new Regex(value, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                }
                catch (ArgumentException e)
                {
                    throw Error($"bad regular expression {value}: {e.Message}");
                }
            }
            return new Selector(path, op, value, pattern);
        }

        private Operator ParseOperator()
        {
            SkipSpace();
            if (_position + 1 < text.Length && text[_position + 1] == '=')
            {
                var op = text[_position] switch
                {
                    '=' => Operator.Equal,
                    '!' => Operator.NotEqual,
                    '~' => Operator.Matches,
                    _ => Operator.Present,
                };
                if (op != Operator.Present)
                {
                    _position += 2;
                }
                return op;
            }
            return Operator.Present;
        }

        private string ParseField()
        {
            var c = Peek();
            if (c is '"' or '`')
            {
                return ParseQuoted();
            }
            var start = _position;
            while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] is '_' or '-'))
            {
                _position++;
            }
            if (start == _position)
            {
                throw Error(_position < text.Length ? $"expected a field, found '{text[_position]}'" : "expected a field at the end");
            }
            return text[start.._position];
        }

        private string ParseValue()
        {
            var c = Peek();
            if (c is '"' or '`')
            {
                return ParseQuoted();
            }
            var start = _position;
            while (_position < text.Length && text[_position] is not (',' or '|') && !char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
            if (start == _position)
            {
                throw Error("expected a value");
            }
            return text[start.._position];
        }

        private string ParseQuoted()
        {
            var quote = text[_position++];
            var result = new StringBuilder();
            while (_position < text.Length)
            {
                var c = text[_position++];
                if (c == quote)
                {
                    return result.ToString();
                }
                if (c != '\\' || quote == '`')
                {
                    result.Append(c);
                    continue;
                }
                if (_position >= text.Length)
                {
                    break;
                }
                var e = text[_position++];
                switch (e)
                {
                    case 'n': result.Append('\n'); break;
                    case 't': result.Append('\t'); break;
                    case 'r': result.Append('\r'); break;
                    case 'a': result.Append('\a'); break;
                    case 'b': result.Append('\b'); break;
                    case 'f': result.Append('\f'); break;
                    case 'v': result.Append('\v'); break;
                    case '\\' or '"' or '\'': result.Append(e); break;
                    case 'x' or 'u' or 'U':
                        var digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                        if (_position + digits > text.Length ||
                            !int.TryParse(text.AsSpan(_position, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                        {
                            throw Error("bad escape in quoted string");
                        }
                        result.Append(char.ConvertFromUtf32(code));
                        _position += digits;
                        break;
                    default:
                        throw Error($"unknown escape \\{e}");
                }
            }
            throw Error("unterminated quoted string");
        }

        private char Peek()
        {
            SkipSpace();
            return _position < text.Length ? text[_position] : '\0';
        }

        private void SkipSpace()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }

        private SnapshotException Error(string what) =>
            SnapshotException.InvalidArgument($"filter {text}: {what} at position {_position}");
    }
}
