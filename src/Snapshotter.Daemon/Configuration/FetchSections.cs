using System.Net;
using Snapshotter.Fs;
using Tomlyn.Model;

namespace Snapshotter.Daemon;

/// <summary>The <c>[fetch]</c>, <c>[prefetch]</c>, <c>[background_fetch]</c>, <c>[passthrough]</c> and <c>[metrics]</c> sections, read into the options of the libraries they configure.</summary>
internal static class FetchSections
{
    public static FetchOptions Fetch(TomlTable table, TomlValues values)
    {
        var options = FetchOptions.Default;
        foreach (var (key, value) in table)
        {
            options = key switch
            {
                "read_ahead_bytes" => options with { ReadAheadBytes = values.Integer(key, value) },
                "read_ahead_start_bytes" => options with { ReadAheadStartBytes = values.Integer(key, value) },
                "max_request_bytes" => options with { MaxRequestBytes = values.Integer(key, value, 64 * 1024) },
                "prefetch_requests" => options with { PrefetchRequests = (int)Math.Min(values.Integer(key, value, 1), 64) },
                "timeout_seconds" => options with { Timeout = Positive(values, key, value) },
                "idle_priority" => options with { IdlePriority = values.Flag(key, value) },
                _ => throw values.Unknown(key),
            };
        }
        return options;
    }

    public static PrefetchOptions Prefetch(TomlTable table, TomlValues values)
    {
        var options = PrefetchOptions.Default;
        foreach (var (key, value) in table)
        {
            options = key switch
            {
                "enable" => options with { Enabled = values.Flag(key, value) },
                "size_without_landmark_bytes" => options with { SizeWithoutLandmark = values.Integer(key, value) },
                "whole_layer_max_bytes" => options with { WholeLayerMaxBytes = values.Integer(key, value) },
                "timeout_seconds" => options with { Timeout = values.Seconds(key, value) },
                "pull_wait_seconds" => options with { PullWait = values.Seconds(key, value) },
                "hint_max_bytes" => options with { HintMaxBytes = values.Integer(key, value) },
                "local_copies" => options with { LocalCopies = values.Flag(key, value) },
                "fill_page_cache" => options with { FillPageCache = values.Flag(key, value) },
                _ => throw values.Unknown(key),
            };
        }
        return options;
    }

    public static BackgroundFetchOptions BackgroundFetch(TomlTable table, TomlValues values)
    {
        var options = BackgroundFetchOptions.Default;
        foreach (var (key, value) in table)
        {
            options = key switch
            {
                "enable" => options with { Enabled = values.Flag(key, value) },
                "bytes_per_second" => options with { BytesPerSecond = values.Integer(key, value) },
                "layers" => options with { Layers = (int)Math.Min(values.Integer(key, value, 1), 64) },
                "request_bytes" => options with { RequestBytes = values.Integer(key, value, 64 * 1024) },
                "quiet_period_seconds" => options with { QuietPeriod = values.Seconds(key, value) },
                "quiet_period_after_prefetch_seconds" => options with { QuietPeriodAfterPrefetch = values.Seconds(key, value) },
                "retry_delay_seconds" => options with { RetryDelay = Positive(values, key, value) },
                _ => throw values.Unknown(key),
            };
        }
        return options;
    }

    public static MetricsConfig Metrics(TomlTable table, TomlValues values)
    {
        var config = new MetricsConfig();
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "address" => config with { Address = ParseEndpoint(values, key, values.Text(key, value)) },
                _ => throw values.Unknown(key),
            };
        }
        return config;
    }

    public static PassthroughConfig Passthrough(TomlTable table, TomlValues values)
    {
        var config = new PassthroughConfig();
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "enable" => config with { Enabled = values.Flag(key, value) },
                "max_bytes" => config with { MaxBytes = values.Integer(key, value) },
                _ => throw values.Unknown(key),
            };
        }
        return config;
    }

    private static TimeSpan Positive(TomlValues values, string key, object value)
    {
        var seconds = values.Seconds(key, value);
        return seconds > TimeSpan.Zero ? seconds : throw values.Error(key, "must be positive");
    }

    private static string ParseEndpoint(TomlValues values, string key, string text) =>
        text.Length == 0 || IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port != 0
            ? text
            : throw values.Error(key, $"must be empty or an IP address and port such as 127.0.0.1:9880, got '{text}'");
}

/// <summary>The <c>[passthrough]</c> section: opened files copied out of the cache so the kernel reads them directly.</summary>
public sealed record PassthroughConfig
{
    /// <summary>Off by default: opens of passthrough files through overlayfs in a container answered EIO here (kernel 6.18); see the docs.</summary>
    public bool Enabled { get; init; }

    /// <summary>Bytes of backing files all layers may hold together (2 GiB); files past it are read through the daemon.</summary>
    public long MaxBytes { get; init; } = 2L * 1024 * 1024 * 1024;
}

/// <summary>The <c>[metrics]</c> section.</summary>
public sealed record MetricsConfig
{
    /// <summary>Where Prometheus metrics are served (<c>http://ADDRESS/metrics</c>), e.g. <c>127.0.0.1:9880</c>; empty: not served.</summary>
    public string Address { get; init; } = "";
}
