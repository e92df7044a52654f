using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fuse.Tests;

[CollectionDefinition(nameof(Serial), DisableParallelization = true)]
public sealed class Serial;

/// <summary>Measurements that need the process to themselves.</summary>
[Collection(nameof(Serial))]
public class HotPathTests
{
    [Fact]
    public void Reads_allocate_no_managed_memory_per_request()
    {
        var fs = FuseMountTests.Tree();
        fs.FileOpenFlags = FuseOpenFlags.DirectIo; // every read(2) becomes one READ request
        using var m = MountedFileSystem.Start(fs, new FuseServerOptions { ReaderThreads = 2 });
        var large = fs.Root.Children["large.bin"];
        using var handle = File.OpenHandle(m.PathOf("large.bin"));
        var buffer = new byte[64 * 1024];
        const int Requests = 2000;
        void ReadMany()
        {
            for (var i = 0; i < Requests; i++)
            {
                RandomAccess.Read(handle, buffer, (long)i * buffer.Length % (large.Content.Length - buffer.Length));
            }
        }

        ReadMany(); // warm up pools, JIT and tiering
        var before = fs.ReadCalls[large.Id];
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        ReadMany();
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        Assert.Equal(Requests, fs.ReadCalls[large.Id] - before);
        TestContext.Current.SendDiagnosticMessage($"{allocated} bytes allocated for {Requests} READs ({(double)allocated / Requests:F1} per request)");
        // Zero on the server's side. Any object per request (24 bytes at least) breaks the bound;
        // the 16 KB allowance covers runtime and test-host background work.
        Assert.True(allocated < Requests * 8, $"{allocated} bytes allocated for {Requests} READs");
    }
}
