using Microsoft.Extensions.Logging;
using Snapshotter.Fs;
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

    /// <summary>Whether the daemon runs one lazy pull of a built-in image from a loopback registry before it serves (<see cref="WarmUp.PullPathWarmUp"/>).</summary>
    public bool WarmUp { get; init; } = true;

    public RegistryConfig Registry { get; init; } = new();

    public FetchOptions Fetch { get; init; } = FetchOptions.Default;

    public PrefetchOptions Prefetch { get; init; } = PrefetchOptions.Default;

    public BackgroundFetchOptions BackgroundFetch { get; init; } = BackgroundFetchOptions.Default;

    public MetricsConfig Metrics { get; init; } = new();

    public PassthroughConfig Passthrough { get; init; } = new();

    public CacheConfig Cache { get; init; } = new();

    public RestartConfig Restart { get; init; } = new();

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
        var top = new TomlValues(source, "");
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "address" => config with { Address = top.Text(key, value) },
                "root" => config with { Root = top.Text(key, value) },
                "log_level" => config with { LogLevel = ParseLogLevel(top.Text(key, value), $"{source}: log_level") },
                "allow_invalid_mounts_on_restart" => config with { AllowInvalidMountsOnRestart = top.Flag(key, value) },
                "shutdown_timeout_seconds" => config with { ShutdownTimeout = top.Seconds(key, value) },
                "warm_up" => config with { WarmUp = top.Flag(key, value) },
                "registry" => config with { Registry = RegistryConfig.FromToml(top.Table(key, value), top.Nested(key)) },
                "fetch" => config with { Fetch = FetchSections.Fetch(top.Table(key, value), top.Nested(key)) },
                "prefetch" => config with { Prefetch = FetchSections.Prefetch(top.Table(key, value), top.Nested(key)) },
                "background_fetch" => config with { BackgroundFetch = FetchSections.BackgroundFetch(top.Table(key, value), top.Nested(key)) },
                "cache" => config with { Cache = CacheConfig.FromToml(top.Table(key, value), top.Nested(key)) },
                "passthrough" => config with { Passthrough = FetchSections.Passthrough(top.Table(key, value), top.Nested(key)) },
                "metrics" => config with { Metrics = FetchSections.Metrics(top.Table(key, value), top.Nested(key)) },
                "restart" => config with { Restart = RestartConfig.FromToml(top.Table(key, value), top.Nested(key)) },
                _ => throw top.Unknown(key),
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
        Registry.Validate(new TomlValues(source, "registry"));
        Cache.Validate(new TomlValues(source, "cache"));
        Restart.Validate(new TomlValues(source, "restart"));
        return this;
    }
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
