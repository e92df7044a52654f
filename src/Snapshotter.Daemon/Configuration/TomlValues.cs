using System.Globalization;
using Tomlyn.Model;

namespace Snapshotter.Daemon;

/// <summary>Typed reads of TOML values with errors that name the file and the option.</summary>
internal readonly record struct TomlValues(string Source, string Section)
{
    public string Name(string key) => Section.Length == 0 ? key : $"{Section}.{key}";

    public ConfigException Error(string key, string problem) => new($"{Source}: {Name(key)} {problem}");

    public ConfigException Unknown(string key) => new($"{Source}: unknown option '{Name(key)}'");

    public string Text(string key, object value) => value as string ?? throw Error(key, "must be a string");

    public bool Flag(string key, object value) => value as bool? ?? throw Error(key, "must be true or false");

    public double Number(string key, object value) => value switch
    {
        long l => l,
        double d => d,
        _ => throw Error(key, $"must be a number, got {Convert.ToString(value, CultureInfo.InvariantCulture)}"),
    };

    public long Integer(string key, object value, long min = 0) => value is long l && l >= min
        ? l
        : throw Error(key, $"must be an integer >= {min}, got {Convert.ToString(value, CultureInfo.InvariantCulture)}");

    public TimeSpan Seconds(string key, object value)
    {
        var seconds = Number(key, value);
        return seconds >= 0 && seconds <= TimeSpan.MaxValue.TotalSeconds / 2 ? TimeSpan.FromSeconds(seconds) : throw Error(key, "must be a non-negative number of seconds");
    }

    public TomlTable Table(string key, object value) => value as TomlTable ?? throw Error(key, "must be a table ([" + Name(key) + "])");

    public TomlValues Nested(string key) => new(Source, Name(key));
}
