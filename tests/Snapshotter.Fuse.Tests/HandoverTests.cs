using System.Text;
using Snapshotter.Fuse.Handover;
using Snapshotter.Fuse.Interop;
using Snapshotter.Testing;

namespace Snapshotter.Fuse.Tests;

/// <summary>
/// A FUSE connection outliving its server: the queue descriptors kept elsewhere, a new server
/// resuming without INIT, and the kernel resending what the old server left unanswered.
/// </summary>
public sealed class HandoverTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Reads_the_old_server_took_but_never_answered_are_resent_to_the_next_server()
    {
        var fs = FuseMountTests.Tree();
        var files = Enumerable.Range(0, 6).Select(i => fs.AddFile(fs.Root, $"file{i}", Encoding.UTF8.GetBytes($"content of file {i}\n"))).ToList();
        // The first server takes the reads and never answers them: as if it was killed, or handed over while they were pending.
        var never = new TaskCompletionSource<int>();
        fs.ReadHook = (_, _, _, _) => new ValueTask<int>(never.Task);
        using var m = MountedFileSystem.Start(fs, new FuseServerOptions { ReaderThreads = 3, StopTimeout = TimeSpan.FromMilliseconds(100) });
        // What a descriptor store keeps: a duplicate of every queue, cloned ones included.
        var kept = m.Mount.Device.QueueDescriptors.Select(Duplicate).ToList();
        Assert.Equal(3, kept.Count);
        var readers = files.Select(f => Task.Run(() => File.ReadAllText(m.PathOf(f.Name)), Token)).ToList();
        await Eventually.True(() => files.All(f => fs.ReadCalls.ContainsKey(f.Id)));

        var negotiated = m.Server.Connection!;
        m.Server.StopForHandover();
        Assert.All(readers, r => Assert.False(r.IsCompleted));

        fs.ReadHook = null;
        using var device = FuseDevice.Adopt(kept);
        var logger = new CapturingLogger();
        m.Server = new FuseServer(device, fs, new FuseServerOptions { Negotiated = negotiated, ReaderThreads = 3 }, logger);
        m.Server.Start();
        var contents = await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(20), Token);
        Assert.Equal(files.Select(f => Encoding.UTF8.GetString(f.Content)), contents);
        Assert.All(files, f => Assert.True(fs.ReadCalls[f.Id] >= 2));
        Assert.Contains(logger.Entries, e => e.Message.Contains("resends", StringComparison.Ordinal));
        Assert.True(negotiated.KernelFlags.HasFlag(Protocol.FuseInitFlags.HasResend));
        // The inherited queues serve again: nothing new was cloned.
        Assert.Equal(kept.Order(), device.QueueDescriptors.Order());
    }

    [Fact]
    public async Task A_kept_mount_is_handed_to_the_next_process_and_one_serving_something_else_is_unmounted()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var directory = new TempDirectory("fuse-handover");
        var socket = directory.Combine("fdstore.sock");
        var state = directory.Combine("connections");
        using var holder = new FdHolder(socket, TimeSpan.FromSeconds(30), new CapturingLogger());
        var holding = Task.Factory.StartNew(holder.Run, TaskCreationOptions.LongRunning);
        await Eventually.True(() => File.Exists(socket));
        var fs = FuseMountTests.Tree();
        var kept = directory.Combine("kept");
        var other = directory.Combine("other");
        try
        {
            // The first process mounts two layers and keeps both connections, then dies without unmounting.
            using (var first = new FuseHandover(new FdHolderStore(socket, ["/bin/false"], new CapturingLogger()), state, new CapturingLogger()))
            {
                Assert.Empty(first.InheritedMountPoints);
                foreach (var (mountPoint, identity) in new[] { (kept, "sha256:one"), (other, "sha256:two") })
                {
                    Directory.CreateDirectory(mountPoint);
                    var mount = FuseMount.Mount(mountPoint, new FuseMountOptions { Subtype = "fusetest" });
                    var server = new FuseServer(mount.Device, fs);
                    server.Start();
                    await server.Initialized.WaitAsync(TimeSpan.FromSeconds(10), Token);
                    first.Keep(mountPoint, identity, mount.Device, server.Connection!);
                    Assert.Equal("fusebox\n", await File.ReadAllTextAsync(Path.Combine(mountPoint, "etc", "hostname"), Token));
                    server.Stop();
                    mount.Device.Dispose();
                }
            }
            Assert.Equal(4, holder.HeldCount); // two queues each
            // Still mounted and alive (no ENOTCONN), but unserved: a statfs now would wait for the next server.
            Assert.True(FuseMount.IsMounted(kept));

            using var second = new FuseHandover(new FdHolderStore(socket, ["/bin/false"], new CapturingLogger()), state, new CapturingLogger());
            Assert.Equal([kept, other], second.InheritedMountPoints.Order(StringComparer.Ordinal));
            var taken = second.TryTake(kept, "sha256:one");
            Assert.NotNull(taken);
            using var adopted = FuseMount.Adopt(kept, taken.Device);
            var resumed = new FuseServer(taken.Device, fs, new FuseServerOptions { Negotiated = taken.Parameters });
            resumed.Start();
            second.Keep(kept, "sha256:one", taken.Device, taken.Parameters);
            Assert.Equal("library 7\n", await File.ReadAllTextAsync(Path.Combine(kept, "usr", "lib", "lib007.so"), Token));

            // The other snapshot now wants a different layer: the old connection goes, the caller mounts afresh.
            Assert.Null(second.TryTake(other, "sha256:three"));
            Assert.False(FuseMount.IsMounted(other));
            Assert.Empty(second.ReleaseUnclaimed());
            Assert.Equal(2, holder.HeldCount);

            // Unmounting for good: the store lets go, and the holder exits once nobody needs it.
            adopted.Unmount();
            resumed.Stop();
            second.Forget(kept);
            Assert.Equal(0, holder.HeldCount);
            Assert.Empty(Directory.GetFiles(state));
        }
        finally
        {
            await Mounts.DetachAllUnderAsync(directory.Path);
            holder.Stop();
            await holding.WaitAsync(TimeSpan.FromSeconds(10), Token);
        }
    }

    private static int Duplicate(int fd)
    {
        var copy = Libc.Fcntl(fd, Libc.F_DUPFD_CLOEXEC, 0);
        Assert.True(copy >= 0, $"dup of {fd} failed: errno {Libc.LastErrno}");
        return copy;
    }
}
