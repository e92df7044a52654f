using System.Net.Sockets;
using Snapshotter.Benchmark.Interop;

namespace Snapshotter.Benchmark.Running;

/// <summary>
/// A cold node for one run: the page cache dropped, then a new containerd and a new daemon of ours,
/// each with an empty root (no images, content, snapshots or chunk cache). Disposing stops both by
/// PID, detaches any mount left under the run's directory and deletes it; the logs are kept.
/// </summary>
internal sealed class ColdEnvironment : IAsyncDisposable
{
    private readonly string _directory;
    private readonly List<ServiceProcess> _services = [];

    private ColdEnvironment(string directory) => _directory = directory;

    public string ContainerdAddress => Path.Combine(_directory, "containerd.sock");

    public string SnapshotterAddress => Path.Combine(_directory, "stargz.sock");

    public string SnapshotterRoot => Path.Combine(_directory, "stargz");

    public static async Task<ColdEnvironment> StartAsync(BenchmarkSettings settings, string directory, string logPrefix, CancellationToken cancellationToken)
    {
        if (Directory.Exists(directory))
        {
            MountTable.DetachAllUnder(directory);
            Directory.Delete(directory, recursive: true);
        }
        Directory.CreateDirectory(directory);
        var environment = new ColdEnvironment(Path.GetFullPath(directory));
        try
        {
            if (settings.DropCaches)
            {
                Libc.Sync();
                await File.WriteAllTextAsync("/proc/sys/vm/drop_caches", "3", cancellationToken);
            }
            await environment.StartSnapshotterAsync(settings, logPrefix + "stargz-snapshotter.log", cancellationToken);
            await environment.StartContainerdAsync(settings, logPrefix + "containerd.log", cancellationToken);
            return environment;
        }
        catch
        {
            await environment.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // containerd first: it is the snapshotter's client.
        for (var i = _services.Count - 1; i >= 0; i--)
        {
            await _services[i].DisposeAsync();
        }
        MountTable.DetachAllUnder(_directory);
        Directory.Delete(_directory, recursive: true);
    }

    private async Task StartSnapshotterAsync(BenchmarkSettings settings, string logPath, CancellationToken cancellationToken)
    {
        var config = Path.Combine(_directory, "stargz.toml");
        if (settings.SnapshotterConfig is { } given)
        {
            File.Copy(given, config);
        }
        else
        {
            await File.WriteAllTextAsync(config, $"""
                [registry]
                config_path = "{settings.HostsDirectory}"

                """, cancellationToken);
        }
        // A given config sets its own log_level; --log-level would override it.
        string[] logLevel = settings.SnapshotterConfig is null ? ["--log-level", "info"] : [];
        var daemon = Start([settings.SnapshotterExecutable, "--config", config, "--root", SnapshotterRoot, "--address", SnapshotterAddress, .. logLevel], logPath);
        await daemon.WaitUntilAsync(_ => AcceptsAsync(SnapshotterAddress), TimeSpan.FromSeconds(60), cancellationToken);
    }

    private async Task StartContainerdAsync(BenchmarkSettings settings, string logPath, CancellationToken cancellationToken)
    {
        var config = Path.Combine(_directory, "containerd.toml");
        await File.WriteAllTextAsync(config, $"""
            version = 2
            root = "{Path.Combine(_directory, "containerd-root")}"
            state = "{Path.Combine(_directory, "containerd-state")}"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]

            [grpc]
              address = "{ContainerdAddress}"

            [proxy_plugins.stargz]
              type = "snapshot"
              address = "{SnapshotterAddress}"

            """, cancellationToken);
        var containerd = Start([settings.Containerd, "--config", config, "--log-level", settings.ContainerdLogLevel], logPath);
        await containerd.WaitUntilAsync(async token => await AcceptsAsync(ContainerdAddress) &&
            (await ExternalCommand.RunAsync([settings.Ctr, "--address", ContainerdAddress, "version"], TimeSpan.FromSeconds(20), token)).ExitCode == 0,
            TimeSpan.FromSeconds(60), cancellationToken);
    }

    private ServiceProcess Start(IReadOnlyList<string> argv, string logPath)
    {
        var service = ServiceProcess.Start(argv, logPath);
        _services.Add(service);
        return service;
    }

    private static async Task<bool> AcceptsAsync(string socketPath)
    {
        if (!File.Exists(socketPath))
        {
            return false;
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
