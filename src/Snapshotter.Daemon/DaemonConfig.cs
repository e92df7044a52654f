using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomlyn;
using Tomlyn.Model;

namespace Snapshotter.Daemon;

/// <summary>The daemon's whole configuration: one TOML file (config.example.toml documents it) plus flags.</summary>
public sealed record DaemonConfig
{
    public const string DefaultConfigPath = "/etc/stargz-snapshotter/config.toml";

    public string Address { get; init; } = "/run/stargz-snapshotter/snapshotter.sock";

    public string Root { get; init; } = "/var/lib/stargz-snapshotter";

    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    public bool AllowInvalidMountsOnRestart { get; init; }

    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Parses a TOML document; missing keys keep their defaults, unknown keys and wrong types are errors.</summary>
    public static DaemonConfig FromToml(string toml, string source)
    {
        TomlTable table;
        try
        {
            table = TomlSerializer.Deserialize<TomlTable>(toml) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw new ConfigException($"{source}: {e.Message}", e);
        }
        var config = new DaemonConfig();
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "address" => config with { Address = Text(source, key, value) },
                "root" => config with { Root = Text(source, key, value) },
                "log_level" => config with { LogLevel = ParseLogLevel(Text(source, key, value), $"{source}: log_level") },
                "allow_invalid_mounts_on_restart" => config with { AllowInvalidMountsOnRestart = Flag(source, key, value) },
                "shutdown_timeout_seconds" => config with { ShutdownTimeout = TimeSpan.FromSeconds(Seconds(source, key, value)) },
                _ => throw new ConfigException($"{source}: unknown option '{key}'"),
            };
        }
        return config.Validated(source);
    }

    /// <summary>Reads <paramref name="path"/>; a missing default file means defaults, a missing explicit file is an error.</summary>
    public static DaemonConfig Load(string? path)
    {
        var file = path ?? DefaultConfigPath;
        if (!File.Exists(file))
        {
            return path is null ? new DaemonConfig() : throw new ConfigException($"config file {file} does not exist");
        }
        return FromToml(File.ReadAllText(file), file);
    }

    public static LogLevel ParseLogLevel(string value, string what) => value.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" or "information" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "critical" or "fatal" => LogLevel.Critical,
        _ => throw new ConfigException($"{what}: unknown log level '{value}' (trace, debug, info, warning, error, critical)"),
    };

    public DaemonConfig Validated(string source)
    {
        if (!Path.IsPathFullyQualified(Address))
        {
            throw new ConfigException($"{source}: address must be an absolute socket path, got '{Address}'");
        }
        if (!Path.IsPathFullyQualified(Root))
        {
            throw new ConfigException($"{source}: root must be an absolute path, got '{Root}'");
        }
        if (ShutdownTimeout < TimeSpan.Zero)
        {
            throw new ConfigException($"{source}: shutdown_timeout_seconds must not be negative");
        }
        return this;
    }

    private static string Text(string source, string key, object value) =>
        value as string ?? throw new ConfigException($"{source}: {key} must be a string");

    private static bool Flag(string source, string key, object value) =>
        value as bool? ?? throw new ConfigException($"{source}: {key} must be true or false");

    private static double Seconds(string source, string key, object value) => value switch
    {
        long l => l,
        double d => d,
        _ => throw new ConfigException($"{source}: {key} must be a number, got {Convert.ToString(value, CultureInfo.InvariantCulture)}"),
    };
}

/// <summary>A configuration or command-line error: the daemon prints it and exits with status 2.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException()
    {
    }

    public ConfigException(string message)
        : base(message)
    {
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
