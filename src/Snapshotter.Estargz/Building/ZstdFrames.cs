using System.Buffers;
using System.Collections.Concurrent;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Snapshotter.Estargz;

/// <summary>
/// Writes one zstd frame per call, with its content size in the header (so a reader can decode
/// it in one shot). A compression context at a high level holds tens of MB of tables, so the
/// contexts are reused across members of one build, one per worker, and freed with the build.
/// </summary>
internal sealed class ZstdFrames(int level) : IDisposable
{
    private readonly ConcurrentBag<Compressor> _idle = [];

    public void Compress(ReadOnlySpan<byte> data, PooledBuffer output)
    {
        if (!_idle.TryTake(out var compressor))
        {
            compressor = new Compressor(level);
            compressor.SetParameter(ZSTD_cParameter.ZSTD_c_contentSizeFlag, 1);
        }
        var frame = ArrayPool<byte>.Shared.Rent(Compressor.GetCompressBound(data.Length));
        try
        {
            var written = compressor.Wrap(data, frame);
            output.Write(frame.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
            _idle.Add(compressor);
        }
    }

    public void Dispose()
    {
        while (_idle.TryTake(out var compressor))
        {
            compressor.Dispose();
        }
    }
}
