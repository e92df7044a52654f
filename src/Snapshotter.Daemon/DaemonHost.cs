using Microsoft.AspNetCore.Server.Kestrel.Core;
using Snapshotter.Cache;
using Snapshotter.Daemon.Remote;
using Snapshotter.Daemon.Restart;
using Snapshotter.Fuse.Handover;
using Snapshotter.Fs;
using Snapshotter.Registry;
using Snapshotter.Snapshots;

namespace Snapshotter.Daemon;

/// <summary>Builds and runs the daemon: the only place where components are wired together.</summary>
public static class DaemonHost
{
    /// <summary>
    /// Builds the host for <paramref name="config"/>. <paramref name="configureServices"/> runs last and may
    /// replace registrations (tests plug a real test <see cref="IRemoteFileSystem"/> in this way).
    /// </summary>
    public static WebApplication Build(DaemonConfig config, Action<IServiceCollection>? configureServices = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "stargz-snapshotter" });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.SetMinimumLevel(config.LogLevel);
        // Kestrel's own per-request logs are noise at info level.
        builder.Logging.AddFilter("Microsoft.AspNetCore", config.LogLevel > LogLevel.Warning ? config.LogLevel : LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = config.ShutdownTimeout);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(config.Address, listen => listen.Protocols = HttpProtocols.Http2);
            MetricsEndpoint.Listen(kestrel, config.Metrics);
            kestrel.AddServerHeader = false;
        });

        var services = builder.Services;
        services.AddSingleton(config);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new SnapshotterOptions { Root = config.Root, AllowInvalidMountsOnRestart = config.AllowInvalidMountsOnRestart });
        // The lazy layer filesystem: eStargz layers read by ranges from their registry (credentials from
        // the docker config; hosts.toml from registry.config_path; loopback registries: https, then
        // plain http) and mounted with FUSE.
        services.AddSingleton(sp => new RegistryClient(config.Registry.ToClientOptions(), sp.GetRequiredService<ILogger<RegistryClient>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IRegistryClient>(sp => sp.GetRequiredService<RegistryClient>());
        // Verified chunks on disk under the GC policy of [cache]; collected periodically and on containerd's Cleanup.
        services.AddSingleton(sp => ChunkCache.Open(config.Cache.ToOptions(config.Root), sp.GetRequiredService<ILogger<ChunkCache>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IChunkCache>(sp => sp.GetRequiredService<ChunkCache>());
        services.AddHostedService<CacheCollector>();
        // Mounted layers' FUSE connections, kept outside the process so that containers survive a restart.
        services.AddSingleton(sp => new KeptConnectionStore(KeptConnections.Open(config, sp.GetRequiredService<ILoggerFactory>())));
        services.AddSingleton(sp => new FetchGate(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new BackgroundFetcher(config.BackgroundFetch, sp.GetRequiredService<FetchGate>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BackgroundFetcher>>()));
        services.AddSingleton(sp => new LayerMountOptions
        {
            Fetch = config.Fetch,
            Prefetch = config.Prefetch,
            Background = sp.GetRequiredService<BackgroundFetcher>(),
            Cache = sp.GetRequiredService<IChunkCache>(),
            PassthroughDirectory = config.Passthrough.Enabled ? PreparePassthroughDirectory(config.Root) : null,
            PassthroughBudget = new PassthroughBudget(config.Passthrough.MaxBytes),
            Handover = sp.GetRequiredService<KeptConnectionStore>().Handover,
        });
        services.AddSingleton<EstargzRemoteFileSystem>(sp => new EstargzRemoteFileSystem(sp.GetRequiredService<IRegistryClient>(), sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<LayerMountOptions>(),
            new LayerTails(Path.Combine(config.Root, "layers"))));
        services.AddSingleton<IRemoteFileSystem>(sp => sp.GetRequiredService<EstargzRemoteFileSystem>());
        services.AddSingleton<OverlaySnapshotter>();
        services.AddSingleton<ISnapshotter>(sp => sp.GetRequiredService<OverlaySnapshotter>());
        services.AddGrpc(o =>
        {
            o.Interceptors.Add<SnapshotErrorInterceptor>();
            o.EnableDetailedErrors = false;
        });
        StrictMethodProvider.Replace(services);
        configureServices?.Invoke(services);

        var app = builder.Build();
        app.MapGrpcService<SnapshotsService>();
        MetricsEndpoint.Map(app, config.Metrics);
        return app;
    }

    /// <summary>
    /// <c>&lt;root&gt;/passthrough</c>, emptied: backing files are derived from the cache and only
    /// known to the process that wrote them (files the kernel still holds open stay readable).
    /// </summary>
    private static string PreparePassthroughDirectory(string root)
    {
        var directory = Path.Combine(root, "passthrough");
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>
    /// Restores remote snapshots, then serves until SIGTERM/SIGINT; removes the socket on the way
    /// out. Tells systemd (if it started us) READY=1 once serving and STOPPING=1 when stopping.
    /// </summary>
    public static async Task RunAsync(WebApplication app, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(app);
        var config = app.Services.GetRequiredService<DaemonConfig>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("stargz-snapshotter");
        // Every remote snapshot is mounted again (or resumed on its kept connection) before containerd can ask for it.
        await app.Services.GetRequiredService<OverlaySnapshotter>().RestoreAsync(cancellationToken);
        if (config.WarmUp)
        {
            var handover = app.Services.GetRequiredService<KeptConnectionStore>().Handover;
            await WarmUp.PullPathWarmUp.RunAsync(Path.Combine(config.Root, "warm-up"), handover, TimeSpan.FromSeconds(10), logger, cancellationToken);
        }
        if (UnixSocket.PrepareForListening(config.Address))
        {
            DaemonLog.RemovedStaleSocket(logger, config.Address);
        }
        try
        {
            await app.StartAsync(cancellationToken);
            UnixSocket.Restrict(config.Address);
            if (config.WarmUp)
            {
                await WarmUp.ServiceWarmUp.RunAsync(config.Address, TimeSpan.FromSeconds(10), logger, cancellationToken);
            }
            DaemonLog.Serving(logger, config.Address, config.Root);
            Notify(logger, $"READY=1\nSTATUS=serving on {config.Address}");
            await app.WaitForShutdownAsync(cancellationToken);
        }
        finally
        {
            Notify(logger, "STOPPING=1");
            await app.StopAsync(CancellationToken.None);
            UnixSocket.Remove(config.Address);
            DaemonLog.Stopped(logger, config.Address);
        }
    }

    private static void Notify(ILogger logger, string state)
    {
        try
        {
            SystemdNotify.Send(state);
        }
        catch (IOException e)
        {
            DaemonLog.NotifyFailed(logger, state, e);
        }
    }
}

/// <summary>The daemon's <see cref="FuseHandover"/>, null with <c>[restart] fd_store = "none"</c>; disposed after the layers are suspended.</summary>
internal sealed record KeptConnectionStore(FuseHandover? Handover) : IDisposable
{
    public void Dispose() => Handover?.Dispose();
}
