using System.Runtime.CompilerServices;
using Snapshotter.Cache.Disk;
using Snapshotter.Cache.Interop;
using Snapshotter.Testing;
using static Snapshotter.Cache.Tests.TestChunks;

namespace Snapshotter.Cache.Tests;

/// <summary>The free-disk floor, on a small tmpfs of its own so the figures are exact.</summary>
public class FreeSpaceTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public void Statvfs_has_the_glibc_layout_and_agrees_with_DriveInfo()
    {
        Assert.Equal(112, Unsafe.SizeOf<Libc.StatVfs>());
        var space = FileSystemSpace.Of("/");
        var drive = new DriveInfo("/");
        Assert.Equal(drive.TotalSize, space.TotalBytes);
        Assert.InRange(space.AvailableBytes, drive.AvailableFreeSpace - (64 * MiB), drive.AvailableFreeSpace + (64 * MiB));
        Assert.Equal(8192, FileSystemSpace.Allocated(4097, 4096));
        Assert.Equal(4096, FileSystemSpace.Allocated(4096, 4096));
    }

    [Fact]
    public async Task The_cache_keeps_the_free_disk_floor_whatever_its_budget()
    {
        Requirements.Root();
        using var mountPoint = new TempDirectory("cache-tmpfs");
        (await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mountPoint.Path], TimeSpan.FromSeconds(30), cancellationToken: Cancel)).EnsureSuccess();
        try
        {
            var floor = 32L * MiB; // MinFreePercent 50 of 64 MiB
            using (var cache = ChunkCache.Open(new ChunkCacheOptions { Root = mountPoint.Path, MaxBytes = 1L << 30, MinFreePercent = 50, MemoryBytes = 0 }))
            {
                using var evictions = new MeasurementTotal(cache, "evictions");
                foreach (var i in Enumerable.Range(0, 48))
                {
                    var (key, data) = Make(1, i);
                    await cache.PutAsync(key, data, Cancel);
                    Assert.True(FileSystemSpace.Of(mountPoint.Path).AvailableBytes >= floor, $"below the floor after put {i}");
                }
                Assert.True(evictions.Total > 0);
                Assert.InRange(cache.Usage.Entries, 20, 32);

                // Something else fills the disk: the GC gives way.
                await File.WriteAllBytesAsync(Path.Combine(mountPoint.Path, "other"), new byte[16 * MiB], Cancel);
                var collection = await cache.CollectAsync(Cancel);
                Assert.True(collection.EntriesEvicted > 0);
                Assert.True(FileSystemSpace.Of(mountPoint.Path).AvailableBytes >= floor);
            }
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", ["-l", mountPoint.Path], TimeSpan.FromSeconds(30), cancellationToken: CancellationToken.None);
        }
    }
}
