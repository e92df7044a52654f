using System.Net.Sockets;
using Containerd.Services.Snapshots.V1;
using Grpc.Net.Client;
using Snapshotter.Testing;

namespace Snapshotter.Daemon.Tests;

/// <summary>The built <c>stargz-snapshotter</c> executable run as a child process with its own root and socket.</summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private GrpcChannel? _channel;

    private readonly string[] _extraArguments;

    private DaemonProcess(string root, string address, BackgroundProcess process, string[] extraArguments)
    {
        Root = root;
        Address = address;
        Process = process;
        _extraArguments = extraArguments;
    }

    public string Root { get; }

    public string Address { get; }

    public BackgroundProcess Process { get; private set; }

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>The executable of the same configuration as these tests (the project reference builds it).</summary>
    public static string Executable
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            return Path.Combine(RepositoryRoot, "src", "Snapshotter.Daemon", "bin", configuration, "net10.0", "stargz-snapshotter");
        }
    }

    public static async Task<DaemonProcess> StartAsync(string root, string address, params string[] extraArguments)
    {
        var process = Launch(root, address, extraArguments);
        var daemon = new DaemonProcess(root, address, process, extraArguments);
        await daemon.WaitServingAsync();
        return daemon;
    }

    public static BackgroundProcess Launch(string root, string address, params string[] extraArguments) =>
        new(Executable, ["--root", root, "--address", address, "--log-level", "debug", .. extraArguments]);

    public Containerd.Services.Snapshots.V1.Snapshots.SnapshotsClient Client =>
        new((_channel ??= Channel(Address)));

    public static GrpcChannel Channel(string address) =>
        GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(address), cancellationToken);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            },
        });

    /// <summary>SIGKILL (a crash) and a fresh start on the same root and socket.</summary>
    public async Task CrashAndRestartAsync()
    {
        await Process.KillAsync();
        await RestartAsync();
    }

    /// <summary>Starts again on the same root, socket and arguments after the process ended (<see cref="BackgroundProcess.KillAsync"/>).</summary>
    public Task StartAgainAsync() => RestartAsync();

    /// <summary>SIGTERM, wait for a clean exit, start again on the same root and socket.</summary>
    public async Task StopAndRestartAsync()
    {
        await Process.StopAsync(TimeSpan.FromSeconds(20));
        await RestartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await Process.DisposeAsync();
    }

    private async Task RestartAsync()
    {
        _channel?.Dispose();
        _channel = null;
        await Process.DisposeAsync();
        Process = Launch(Root, Address, _extraArguments);
        await WaitServingAsync();
    }

    private Task WaitServingAsync() =>
        Process.WaitUntilAsync(async () =>
        {
            if (!File.Exists(Address))
            {
                return false;
            }
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(Address));
                return Process.Output.Contains("Serving containerd snapshots API", StringComparison.Ordinal);
            }
            catch (SocketException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "serving on its socket");

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Snapshotter.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Snapshotter.sln not found above " + AppContext.BaseDirectory);
    }
}
