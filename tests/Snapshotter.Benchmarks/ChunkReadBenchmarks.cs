using BenchmarkDotNet.Attributes;
using Snapshotter.Estargz;
using Snapshotter.Testing.Tar;

namespace Snapshotter.Benchmarks;

/// <summary>The FUSE read hot path: inflate one chunk's member and verify its sha256, into a reused buffer.</summary>
[MemoryDiagnoser]
public class ChunkReadBenchmarks
{
    private EstargzReader _reader = null!;
    private EstargzChunk _chunk;
    private byte[] _compressed = [];
    private byte[] _destination = [];

    [Params(4 * 1024, 4 * 1024 * 1024)]
    public int ChunkSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var tar = new TarBuilder().File("data.bin", SampleLayers.Pattern(ChunkSize, 1)).Build();
        var (blob, result) = BenchmarkLayers.Build(tar, new EstargzBuildOptions());
        _reader = EstargzReader.OpenAsync(new MemoryBlobSource(blob), result.TocDigest).GetAwaiter().GetResult();
        _chunk = _reader.GetChunks(_reader.GetEntry("data.bin"))[0];
        _compressed = blob.AsSpan((int)_chunk.CompressedOffset, (int)_chunk.CompressedLength).ToArray();
        _destination = new byte[_chunk.Size];
    }

    [Benchmark]
    public void ReadAndVerifyChunk() => _reader.ReadChunk(_chunk, _compressed, _destination);
}
