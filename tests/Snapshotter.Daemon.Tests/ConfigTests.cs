using Microsoft.Extensions.Logging;

namespace Snapshotter.Daemon.Tests;

public sealed class ConfigTests
{
    [Fact]
    public void The_documented_example_is_exactly_the_defaults()
    {
        var example = Path.Combine(DaemonProcess.RepositoryRoot, "src", "Snapshotter.Daemon", "config.example.toml");
        Assert.Equal(new DaemonConfig(), DaemonConfig.Load(example));
        var defaults = new DaemonConfig();
        Assert.Equal("/run/stargz-snapshotter/snapshotter.sock", defaults.Address);
        Assert.Equal("/var/lib/stargz-snapshotter", defaults.Root);
    }

    [Fact]
    public void Every_option_is_read_from_toml()
    {
        var config = DaemonConfig.FromToml("""
            address = "/tmp/x/s.sock"
            root = "/tmp/x/root"
            log_level = "debug"
            allow_invalid_mounts_on_restart = true
            shutdown_timeout_seconds = 3

            [registry]
            config_path = "/etc/x/certs.d"
            request_timeout_seconds = 7
            max_retries = 2
            max_concurrent_requests_per_host = 4

            [fetch]
            read_ahead_bytes = 0
            read_ahead_start_bytes = 0
            max_request_bytes = 1048576
            prefetch_requests = 2
            timeout_seconds = 5
            idle_priority = false

            [prefetch]
            enable = false
            size_without_landmark_bytes = 10485760
            whole_layer_max_bytes = 0
            timeout_seconds = 3
            pull_wait_seconds = 20
            hint_max_bytes = 0
            local_copies = false

            [background_fetch]
            enable = false
            bytes_per_second = 1000
            layers = 3
            retry_delay_seconds = 4
            request_bytes = 131072
            quiet_period_seconds = 0.5
            quiet_period_after_prefetch_seconds = 7

            [metrics]
            address = "127.0.0.1:9880"

            [passthrough]
            enable = true
            max_bytes = 77

            [cache]
            directory = "/tmp/x/cache"
            max_bytes = 1000000
            low_watermark_percent = 50
            min_free_bytes = 5
            min_free_percent = 1.5
            memory_bytes = 0
            gc_interval_seconds = 60
            sync_writes = true

            [restart]
            fd_store = "holder"
            holder_socket = "/run/x/fd.sock"
            """, "test.toml");

        Assert.Equal(new DaemonConfig
        {
            Address = "/tmp/x/s.sock",
            Root = "/tmp/x/root",
            LogLevel = LogLevel.Debug,
            AllowInvalidMountsOnRestart = true,
            ShutdownTimeout = TimeSpan.FromSeconds(3),
            Registry = new RegistryConfig
            {
                ConfigPath = "/etc/x/certs.d",
                RequestTimeout = TimeSpan.FromSeconds(7),
                MaxRetries = 2,
                MaxConcurrentRequestsPerHost = 4,
            },
            Fetch = new Fs.FetchOptions { ReadAheadBytes = 0, ReadAheadStartBytes = 0, MaxRequestBytes = 1 << 20, PrefetchRequests = 2, Timeout = TimeSpan.FromSeconds(5), IdlePriority = false },
            Prefetch = new Fs.PrefetchOptions { Enabled = false, SizeWithoutLandmark = 10 << 20, WholeLayerMaxBytes = 0, Timeout = TimeSpan.FromSeconds(3), PullWait = TimeSpan.FromSeconds(20), HintMaxBytes = 0, LocalCopies = false },
            BackgroundFetch = new Fs.BackgroundFetchOptions { Enabled = false, BytesPerSecond = 1000, Layers = 3, RetryDelay = TimeSpan.FromSeconds(4), RequestBytes = 131072, QuietPeriod = TimeSpan.FromSeconds(0.5), QuietPeriodAfterPrefetch = TimeSpan.FromSeconds(7) },
            Metrics = new MetricsConfig { Address = "127.0.0.1:9880" },
            Passthrough = new PassthroughConfig { Enabled = true, MaxBytes = 77 },
            Cache = new CacheConfig
            {
                Directory = "/tmp/x/cache",
                MaxBytes = 1_000_000,
                LowWatermarkPercent = 50,
                MinFreeBytes = 5,
                MinFreePercent = 1.5,
                MemoryBytes = 0,
                GcInterval = TimeSpan.FromMinutes(1),
                SyncWrites = true,
            },
            Restart = new RestartConfig { FdStore = FdStoreKind.Holder, HolderSocket = "/run/x/fd.sock" },
        }, config);
        Assert.Equal("/tmp/x/root/cache", new CacheConfig().ToOptions("/tmp/x/root").Root);
        Assert.Equal("/tmp/x/root/fdstore.sock", new RestartConfig().HolderSocketPath("/tmp/x/root"));
        Assert.Equal(new DaemonConfig(), DaemonConfig.FromToml("", "empty.toml"));
    }

    [Theory]
    [InlineData("adress = \"/x\"", "unknown option 'adress'")]
    [InlineData("root = 5", "root must be a string")]
    [InlineData("root = \"relative\"", "root must be an absolute path")]
    [InlineData("log_level = \"loud\"", "unknown log level")]
    [InlineData("allow_invalid_mounts_on_restart = \"yes\"", "must be true or false")]
    [InlineData("root = ", "bad.toml")]
    [InlineData("[registry]\nconfig_pth = \"/x\"", "unknown option 'registry.config_pth'")]
    [InlineData("[registry]\nconfig_path = \"x\"", "registry.config_path must be an absolute path")]
    [InlineData("registry = 3", "registry must be a table")]
    [InlineData("[metrics]\naddress = \"localhost\"", "metrics.address must be empty or an IP address and port")]
    [InlineData("[fetch]\ntimeout_seconds = 0", "fetch.timeout_seconds must be positive")]
    [InlineData("[background_fetch]\nlayers = 0", "background_fetch.layers must be an integer >= 1")]
    [InlineData("[background_fetch]\nrequest_bytes = 4096", "background_fetch.request_bytes must be an integer >= 65536")]
    [InlineData("[background_fetch]\nquiet_period_seconds = -1", "background_fetch.quiet_period_seconds must be a non-negative number of seconds")]
    [InlineData("[cache]\nmin_free_percent = 120", "cache.min_free_percent must be between 0 and 100")]
    [InlineData("[cache]\ndirectory = \"cache\"", "cache.directory must be empty or an absolute path")]
    [InlineData("[registry]\nmax_concurrent_requests_per_host = 0", "must be an integer >= 1")]
    [InlineData("[restart]\nfd_store = \"files\"", "restart.fd_store must be \"auto\", \"systemd\", \"holder\" or \"none\"")]
    [InlineData("[restart]\nholder_socket = \"fd.sock\"", "restart.holder_socket must be empty or an absolute path")]
    public void Bad_configuration_is_refused_with_the_reason(string toml, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => DaemonConfig.FromToml(toml, "bad.toml"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Flags_override_the_file_and_a_missing_explicit_file_is_an_error()
    {
        var line = CommandLine.Parse(["--root", "/r", "--address=/s.sock", "--log-level", "warning", "--config", "/nonexistent.toml"]);
        Assert.Equal("/nonexistent.toml", line.ConfigPath);
        Assert.Throws<ConfigException>(() => DaemonConfig.Load(line.ConfigPath));

        var config = line.Apply(DaemonConfig.FromToml("root = \"/file-root\"\nallow_invalid_mounts_on_restart = true", "f.toml"));
        Assert.Equal("/r", config.Root);
        Assert.Equal("/s.sock", config.Address);
        Assert.Equal(LogLevel.Warning, config.LogLevel);
        Assert.True(config.AllowInvalidMountsOnRestart);

        Assert.Throws<ConfigException>(() => CommandLine.Parse(["--root"]));
        Assert.Throws<ConfigException>(() => CommandLine.Parse(["--rooot", "/x"]));
        Assert.True(CommandLine.Parse(["--help"]).Help);
    }
}
