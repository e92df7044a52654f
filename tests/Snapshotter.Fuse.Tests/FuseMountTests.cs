using System.Security.Cryptography;
using System.Text;
using Snapshotter.Testing;

namespace Snapshotter.Fuse.Tests;

/// <summary>Real mounts over /dev/fuse, checked with .NET file APIs and coreutils.</summary>
public class FuseMountTests
{
    internal const int LargeSize = 20 * 1024 * 1024 + 12345;

    internal static TestFileSystem Tree()
    {
        var fs = new TestFileSystem();
        var etc = fs.AddDirectory(fs.Root, "etc");
        fs.AddFile(etc, "hostname", Encoding.UTF8.GetBytes("fusebox\n"));
        var deep = fs.AddDirectory(fs.AddDirectory(fs.Root, "usr"), "lib");
        for (var i = 0; i < 300; i++)
        {
            fs.AddFile(deep, $"lib{i:D3}.so", Encoding.UTF8.GetBytes($"library {i}\n"));
        }
        fs.AddSymlink(fs.Root, "hostname", "etc/hostname");
        fs.AddSymlink(fs.Root, "dangling", "/nowhere");
        var large = new byte[LargeSize];
        new Random(42).NextBytes(large);
        fs.AddFile(fs.Root, "large.bin", large);
        fs.Root.Children["etc"].Xattrs["user.comment"] = Encoding.UTF8.GetBytes("configuration");
        fs.Root.Children["etc"].Xattrs["user.kind"] = Encoding.UTF8.GetBytes("dir");
        return fs;
    }

    [Fact]
    public void Serves_directories_files_symlinks_and_xattrs()
    {
        using var m = MountedFileSystem.Start(Tree());
        Assert.True(FuseMount.IsMounted(m.Root));
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("hostname")));
        Assert.Equal("etc/hostname", new FileInfo(m.PathOf("hostname")).LinkTarget);
        Assert.Equal(["dangling", "etc", "hostname", "large.bin", "usr"],
            Directory.EnumerateFileSystemEntries(m.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var libs = Directory.GetFiles(m.PathOf("usr", "lib"));
        Assert.Equal(300, libs.Length);
        Assert.Equal("library 299\n", File.ReadAllText(m.PathOf("usr", "lib", "lib299.so")));

        Assert.Equal("8 644 regular file", MountedFileSystem.Run("stat", "-c", "%s %a %F", m.PathOf("etc", "hostname")).Trim());
        Assert.Equal("755 directory", MountedFileSystem.Run("stat", "-c", "%a %F", m.PathOf("usr")).Trim());
        Assert.Equal("fusebox\n", MountedFileSystem.Run("cat", m.PathOf("hostname")));
        var ls = MountedFileSystem.Run("ls", "-la", m.Root);
        Assert.Contains("hostname -> etc/hostname", ls, StringComparison.Ordinal);
        Assert.Contains("dangling -> /nowhere", ls, StringComparison.Ordinal);
        var getfattr = Requirements.Tool("getfattr", "attr");
        var xattrs = MountedFileSystem.Run(getfattr, "-d", m.PathOf("etc"));
        Assert.Contains("user.comment=\"configuration\"", xattrs, StringComparison.Ordinal);
        Assert.Contains("user.kind=\"dir\"", xattrs, StringComparison.Ordinal);
        Assert.Equal("configuration", MountedFileSystem.Run(getfattr, "--only-values", "-n", "user.comment", m.PathOf("etc")));

        var large = m.Fs.Root.Children["large.bin"].Content;
        Assert.Equal(SHA256.HashData(large), SHA256.HashData(File.ReadAllBytes(m.PathOf("large.bin"))));
        Assert.Equal(LargeSize, new FileInfo(m.PathOf("large.bin")).Length);
        Assert.Throws<FileNotFoundException>(() => File.ReadAllText(m.PathOf("etc", "missing")));
        Assert.ThrowsAny<IOException>(() => File.WriteAllText(m.PathOf("etc", "new"), "x"));
        Assert.ThrowsAny<IOException>(() => Directory.CreateDirectory(m.PathOf("newdir")));
        Assert.DoesNotContain(m.Logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }
}

public class ZeroMessageOpenDirTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_file_system_whose_listings_need_no_handle_lets_the_kernel_skip_opendir(bool needNoOpen)
    {
        var fs = FuseMountTests.Tree();
        fs.DirectoriesNeedNoOpen = needNoOpen;
        using var m = MountedFileSystem.Start(fs);
        for (var pass = 0; pass < 3; pass++)
        {
            Assert.Equal(300, Directory.GetFiles(m.PathOf("usr", "lib")).Length);
            Assert.Equal(["dangling", "etc", "hostname", "large.bin", "usr"],
                Directory.EnumerateFileSystemEntries(m.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
        if (needNoOpen)
        {
            Assert.Equal(0, Volatile.Read(ref fs.OpenDirectoryCalls)); // the first was answered ENOSYS by the server itself
        }
        else
        {
            Assert.True(Volatile.Read(ref fs.OpenDirectoryCalls) >= 2);
        }
        Assert.DoesNotContain(m.Logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }
}

public class ZeroMessageOpenTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_file_system_whose_reads_need_no_handle_lets_the_kernel_skip_open_release_and_flush(bool needNoOpen)
    {
        var fs = FuseMountTests.Tree();
        fs.FilesNeedNoOpen = needNoOpen;
        using var m = MountedFileSystem.Start(fs);
        for (var pass = 0; pass < 3; pass++)
        {
            Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("etc", "hostname")));
            Assert.Equal(FuseMountTests.LargeSize, File.ReadAllBytes(m.PathOf("large.bin")).Length);
        }
        if (needNoOpen)
        {
            // The first OPEN and the first FLUSH were answered ENOSYS by the server itself; nothing
            // was opened or released through the file system, and the reads still arrived.
            Assert.Equal(0, Volatile.Read(ref fs.OpenCalls));
            Assert.Empty(fs.Released);
            Assert.NotEmpty(fs.ReadCalls);
        }
        else
        {
            Assert.True(Volatile.Read(ref fs.OpenCalls) >= 2);
        }
        Assert.DoesNotContain(m.Logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }
}

public class FuseMountLifecycleTests
{
    [Fact]
    public async Task Concurrent_readers_get_the_right_bytes_while_reads_complete_asynchronously()
    {
        var fs = FuseMountTests.Tree();
        fs.ReadHook = async (node, offset, buffer, ct) =>
        {
            await Task.Delay(1, ct); // a network fetch, as the lazy layer does
            return node.CopyTo(offset, buffer.Span);
        };
        using var m = MountedFileSystem.Start(fs, new FuseServerOptions { ReaderThreads = 4 });
        var content = fs.Root.Children["large.bin"].Content;
        var path = m.PathOf("large.bin");
        var ct = TestContext.Current.CancellationToken;
        var readers = Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            var random = new Random(worker);
            using var handle = File.OpenHandle(path);
            var buffer = new byte[256 * 1024];
            for (var i = 0; i < 40; i++)
            {
                var offset = random.NextInt64(content.Length);
                var length = random.Next(1, buffer.Length);
                var read = RandomAccess.Read(handle, buffer.AsSpan(0, length), offset);
                Assert.Equal((int)Math.Min(length, content.Length - offset), read);
                Assert.True(content.AsSpan((int)offset, read).SequenceEqual(buffer.AsSpan(0, read)), $"bytes differ at {offset}");
            }
            Assert.Equal(300, Directory.GetFiles(m.PathOf("usr", "lib")).Length);
        }, ct)).ToArray();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromMinutes(2), ct);
        Assert.True(m.Fs.ReadCalls[fs.Root.Children["large.bin"].Id] > 8);
        // Readahead the kernel issued on its own may still be finishing.
        await Eventually.True(() => m.Server.ReadsInFlight == 0);
        Assert.DoesNotContain(m.Logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    [Fact]
    public void A_file_with_a_backing_file_is_read_by_the_kernel_through_passthrough()
    {
        using var backingDir = new TempDirectory("fuse-backing");
        var backing = backingDir.Combine("cached.bin");
        var bytes = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(backing, bytes);
        var fs = FuseMountTests.Tree();
        var node = fs.AddBackedFile(fs.Root, "cached.bin", backing);
        using var m = MountedFileSystem.Start(fs);
        if (!m.Server.Connection!.KernelSupportsPassthrough)
        {
            Assert.Skip($"the kernel ({Environment.OSVersion.Version}) offers no FUSE passthrough (6.9+ with CONFIG_FUSE_PASSTHROUGH)");
        }
        Assert.True(m.Server.Connection.Passthrough);
        Assert.Equal(bytes, File.ReadAllBytes(m.PathOf("cached.bin")));
        Assert.Equal(bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), MountedFileSystem.Run("stat", "-c", "%s", m.PathOf("cached.bin")).Trim());
        // No READ reached user space for it; an ordinary file still goes through the server.
        Assert.False(fs.ReadCalls.ContainsKey(node.Id));
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        Assert.True(fs.ReadCalls.ContainsKey(fs.Root.Children["etc"].Children["hostname"].Id));
        Assert.DoesNotContain(m.Logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public void A_new_server_takes_over_the_connection_without_INIT_or_remount()
    {
        var fs = FuseMountTests.Tree();
        using var m = MountedFileSystem.Start(fs);
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        var negotiated = m.Server.Connection!;
        m.Server.Stop();
        Assert.True(FuseMount.IsMounted(m.Root));

        // As a restarted daemon would: wrap the inherited descriptor number and resume.
        var inherited = FuseDevice.FromFd(m.Mount.Device.Fd, ownsFd: false);
        var logger = new CapturingLogger();
        var next = new FuseServer(inherited, fs, new FuseServerOptions { Negotiated = negotiated }, logger);
        m.Server = next;
        next.Start();
        Assert.Equal("library 7\n", File.ReadAllText(m.PathOf("usr", "lib", "lib007.so")));
        var large = fs.Root.Children["large.bin"].Content;
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(large), System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(m.PathOf("large.bin"))));
        Assert.DoesNotContain(logger.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);

        // The restarted daemon owns the mount again and unmounts it as usual.
        using var adopted = FuseMount.Adopt(m.Root, inherited);
        adopted.Unmount();
        Assert.False(FuseMount.IsMounted(m.Root));
        Assert.Throws<IOException>(() => FuseMount.Adopt(m.Root, inherited));
    }

    [Fact]
    public async Task A_mount_whose_server_died_is_detected_as_stale_and_cleaned()
    {
        Requirements.Root();
        Requirements.Fuse();
        using var dir = new TempDirectory("fuse-stale");
        var mountPoint = dir.Combine("layer one", "mnt"); // mountinfo escapes the space
        Directory.CreateDirectory(mountPoint);
        var mount = FuseMount.Mount(mountPoint, new FuseMountOptions { Subtype = "fusetest" });
        try
        {
            var server = new FuseServer(mount.Device, FuseMountTests.Tree());
            server.Start();
            await server.Initialized.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.True(File.Exists(Path.Combine(mountPoint, "etc", "hostname")));
            Assert.False(FuseMount.IsStale(mountPoint));

            // The daemon goes away: its reader threads stop and its descriptors close.
            server.Stop();
            mount.Device.Dispose();

            Assert.True(FuseMount.IsStale(mountPoint));
            Assert.True(FuseMount.IsMounted(mountPoint));
            Assert.Equal([mountPoint], FuseMount.CleanupStaleUnder(dir.Path));
            Assert.False(FuseMount.IsMounted(mountPoint));
            Assert.False(FuseMount.IsStale(mountPoint));
            Assert.False(FuseMount.CleanupStale(mountPoint));
        }
        finally
        {
            mount.Dispose();
        }
    }

    [Fact]
    public async Task Lazy_unmount_detaches_at_once_and_serving_ends_with_the_last_open_file()
    {
        var fs = FuseMountTests.Tree();
        using var m = MountedFileSystem.Start(fs);
        var ct = TestContext.Current.CancellationToken;
        var open = File.OpenHandle(m.PathOf("large.bin"));
        try
        {
            m.Mount.Unmount(lazy: true);
            Assert.False(FuseMount.IsMounted(m.Root));
            Assert.False(File.Exists(m.PathOf("etc", "hostname")));
            // The open file still reads through the server.
            var buffer = new byte[4096];
            Assert.Equal(4096, RandomAccess.Read(open, buffer, 1024 * 1024));
            Assert.True(fs.Root.Children["large.bin"].Content.AsSpan(1024 * 1024, 4096).SequenceEqual(buffer));
            Assert.False(m.Server.Completion.IsCompleted);
        }
        finally
        {
            open.Dispose();
        }
        await m.Server.Completion.WaitAsync(TimeSpan.FromSeconds(10), ct);
    }

    [Fact]
    public void Fusermount3_mounts_when_asked_to()
    {
        Requirements.Tool("fusermount3", "fuse3");
        using var m = MountedFileSystem.Start(FuseMountTests.Tree(), mountOptions: new FuseMountOptions { Subtype = "fusetest", Method = FuseMountMethod.Fusermount });
        Assert.True(m.Mount.ViaFusermount);
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("hostname")));
        Assert.Contains(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(m.Root, StringComparison.Ordinal) && l.Contains("fuse.fusetest", StringComparison.Ordinal));
        m.Mount.Unmount();
        Assert.False(FuseMount.IsMounted(m.Root));
    }
}

public class FuseNotificationTests
{
    [Fact]
    public void Invalidating_an_inode_drops_the_kernels_cached_data()
    {
        var fs = FuseMountTests.Tree();
        using var m = MountedFileSystem.Start(fs);
        var hostname = fs.Root.Children["etc"].Children["hostname"];
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        var reads = fs.ReadCalls[hostname.Id];
        hostname.Content = "renamed\n"u8.ToArray(); // same size: attributes stay valid
        // KEEP_CACHE: without a notification the kernel keeps serving the old page.
        Assert.Equal("fusebox\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        Assert.Equal(reads, fs.ReadCalls[hostname.Id]);
        Assert.Equal(0, m.Server.NotifyInvalidateInode(hostname.Id, 0, 0));
        Assert.Equal("renamed\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        Assert.True(fs.ReadCalls[hostname.Id] > reads);
    }

    [Fact]
    public void Stored_pages_are_read_without_a_READ()
    {
        var fs = FuseMountTests.Tree();
        using var m = MountedFileSystem.Start(fs);
        var hostname = fs.Root.Children["etc"].Children["hostname"];
        Assert.Equal(Errno.ENOENT, m.Server.NotifyStore(hostname.Id, 0, "fusebox\n"u8)); // no inode before a lookup
        Assert.True(File.Exists(m.PathOf("etc", "hostname")));
        // Different bytes than the file serves, to tell where a read's answer came from.
        Assert.Equal(0, m.Server.NotifyStore(hostname.Id, 0, "storedd\n"u8));
        Assert.Equal("storedd\n", File.ReadAllText(m.PathOf("etc", "hostname")));
        Assert.False(fs.ReadCalls.ContainsKey(hostname.Id));
    }

    [Fact]
    public void Invalidating_an_entry_makes_the_kernel_look_the_name_up_again()
    {
        var fs = FuseMountTests.Tree();
        using var m = MountedFileSystem.Start(fs);
        var etc = fs.Root.Children["etc"];
        var id = etc.Children["hostname"].Id;
        Assert.True(File.Exists(m.PathOf("etc", "hostname")));
        var lookups = fs.LookupCalls[id];
        Assert.True(File.Exists(m.PathOf("etc", "hostname")));
        Assert.Equal(lookups, fs.LookupCalls[id]); // the name is cached
        Assert.Equal(0, m.Server.NotifyInvalidateEntry(etc.Id, "hostname"u8));
        Assert.True(File.Exists(m.PathOf("etc", "hostname")));
        Assert.Equal(lookups + 1, fs.LookupCalls[id]);
        Assert.Equal(Errno.ENOENT, m.Server.NotifyInvalidateEntry(etc.Id, "never-looked-up"u8));
    }
}

public class FuseInterruptTests
{
    [Fact]
    public async Task Killing_a_reader_interrupts_its_pending_read()
    {
        var fs = FuseMountTests.Tree();
        fs.FileOpenFlags = Protocol.FuseOpenFlags.DirectIo; // a synchronous READ from the reading process
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fs.ReadHook = async (node, offset, buffer, ct) =>
        {
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct); // a fetch that never returns
            }
            catch (OperationCanceledException)
            {
                cancelled.TrySetResult();
                throw;
            }
            return 0;
        };
        using var m = MountedFileSystem.Start(fs);
        var ct = TestContext.Current.CancellationToken;
        using var cat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("cat", m.PathOf("etc", "hostname")) { RedirectStandardOutput = true })!;
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        cat.Kill();
        // The kernel sends INTERRUPT; the server cancels the read and answers EINTR, so the
        // killed process can exit (without it, it would wait for the reply forever).
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.True(cat.WaitForExit(10_000));
        await Eventually.True(() => m.Server.ReadsInFlight == 0);
    }
}
