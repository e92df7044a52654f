using System.Net.Sockets;
using System.Text;
using Snapshotter.Fuse.Handover;
using Snapshotter.Fuse.Interop;
using Snapshotter.Testing;

namespace Snapshotter.Fuse.Tests;

/// <summary>The descriptor holder over a real unix socket, with real descriptors (socket pairs) passed both ways.</summary>
public sealed class FdHolderTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Starting_ahead_runs_a_store_and_a_remove_through_the_holder_and_leaves_nothing_held()
    {
        using var directory = new TempDirectory("fd-holder");
        var path = directory.Combine("fdstore.sock");
        var holderLog = new CapturingLogger();
        using var holder = new FdHolder(path, TimeSpan.FromSeconds(30), holderLog);
        var holding = Task.Factory.StartNew(holder.Run, TaskCreationOptions.LongRunning);
        await Eventually.True(() => File.Exists(path));

        using (var store = new FdHolderStore(path, ["/bin/false"], new CapturingLogger()))
        {
            await store.StartAheadAsync();
            // Both code paths of a mount's handover ran once, in both processes, before any mount.
            Assert.Contains(holderLog.Entries, e => e.Message.Contains(FdHolderStore.WarmUpName, StringComparison.Ordinal));
            Assert.Equal(0, holder.HeldCount);
            Assert.Empty(store.Inherited);
        }
        // Nothing held: the holder exits once the store hangs up, as it would without the warm-up.
        await holding.WaitAsync(TimeSpan.FromSeconds(10), Token);
    }

    [Fact]
    public async Task Keeps_descriptors_for_the_next_client_and_drops_one_whose_peer_hung_up()
    {
        using var directory = new TempDirectory("fd-holder");
        var path = directory.Combine("fdstore.sock");
        using var holder = new FdHolder(path, TimeSpan.FromSeconds(30), new CapturingLogger());
        var holding = Task.Factory.StartNew(holder.Run, TaskCreationOptions.LongRunning);
        await Eventually.True(() => File.Exists(path));
        var (a, aPeer) = SocketPair();
        var (b, bPeer) = SocketPair();

        using (var first = new FdHolderStore(path, ["/bin/false"], new CapturingLogger()))
        {
            Assert.Empty(first.Inherited);
            Assert.Equal(Environment.ProcessId, first.HolderPid);
            first.Store("fuse-a", [a]);
            first.Store("fuse-b", [b, bPeer]);
            first.Store("fuse-b", [b]); // replaces: bPeer's duplicate is closed by the holder
            Assert.Throws<ArgumentException>(() => first.Store("bad:name", [a]));
        }
        // Only the holder has a and b now.
        Libc.Close(a);
        Libc.Close(b);
        Assert.Equal(2, holder.HeldCount);

        using var second = new FdHolderStore(path, ["/bin/false"], new CapturingLogger());
        Assert.Equal(["fuse-a", "fuse-b"], second.Inherited.Keys.Order(StringComparer.Ordinal));
        using var returned = new Socket(new SafeSocketHandle(second.Inherited["fuse-a"].Single(), ownsHandle: true));
        using var peer = new Socket(new SafeSocketHandle(aPeer, ownsHandle: true));
        // The descriptor that came back is the same socket: what goes in one end comes out of its peer.
        returned.Send("ping"u8);
        var buffer = new byte[4];
        Assert.Equal(4, peer.Receive(buffer));
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer));

        // The peer of b hangs up: the holder sees POLLHUP on its copy and drops it.
        Libc.Close(second.Inherited["fuse-b"].Single());
        Libc.Close(bPeer);
        await Eventually.True(() => holder.HeldCount == 1);
        second.Remove("fuse-a");
        second.Remove("fuse-unknown");
        Assert.Equal(0, holder.HeldCount);

        // Nothing held and nobody connected: the holder exits and removes its socket.
        second.Dispose();
        await holding.WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task Exits_when_nobody_connects_and_refuses_to_run_beside_a_live_holder()
    {
        using var directory = new TempDirectory("fd-holder");
        var path = directory.Combine("fdstore.sock");
        using (var idle = new FdHolder(path, TimeSpan.FromMilliseconds(200), new CapturingLogger()))
        {
            await Task.Factory.StartNew(idle.Run, TaskCreationOptions.LongRunning).WaitAsync(TimeSpan.FromSeconds(10), Token);
        }

        using var holder = new FdHolder(path, TimeSpan.FromSeconds(30), new CapturingLogger());
        var holding = Task.Factory.StartNew(holder.Run, TaskCreationOptions.LongRunning);
        await Eventually.True(() => File.Exists(path));
        using var second = new FdHolder(path, TimeSpan.FromSeconds(30), new CapturingLogger());
        Assert.Throws<IOException>(second.Run);
        holder.Stop();
        await holding.WaitAsync(TimeSpan.FromSeconds(10), Token);
    }

    private static unsafe (int, int) SocketPair()
    {
        var pair = stackalloc int[2];
        Assert.Equal(0, Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, pair));
        return (pair[0], pair[1]);
    }
}
