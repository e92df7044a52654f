using System.Net.Sockets;

namespace Snapshotter.Testing;

/// <summary>
/// Our daemon, the built <c>stargz-snapshotter</c> executable, as a child process with its own
/// root and socket (register it with <see cref="ContainerdFixture.StartAsync"/> as a proxy
/// snapshotter). Disposing stops it by PID and detaches whatever it left mounted under its root.
/// </summary>
public sealed class SnapshotterDaemonFixture : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("stargz-daemon");
    private BackgroundProcess? _process;

    private SnapshotterDaemonFixture()
    {
    }

    public string Root => _directory.Combine("root");

    public string Address => _directory.Combine("stargz.sock");

    public string Log => _process?.Output ?? "";

    public static async Task<SnapshotterDaemonFixture> StartAsync()
    {
        Requirements.Root();
        Requirements.Fuse();
        var fixture = new SnapshotterDaemonFixture();
        try
        {
            fixture._process = new BackgroundProcess(RepositoryPaths.SnapshotterDaemon, ["--root", fixture.Root, "--address", fixture.Address, "--log-level", "debug"]);
            await fixture._process.WaitUntilAsync(fixture.AnswersAsync, TimeSpan.FromSeconds(60), "serving on its socket");
            return fixture;
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
        await Mounts.DetachAllUnderAsync(_directory.Path);
        _directory.Dispose();
    }

    private async Task<bool> AnswersAsync()
    {
        if (!File.Exists(Address))
        {
            return false;
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(Address));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
