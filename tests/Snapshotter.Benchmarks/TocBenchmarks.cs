using BenchmarkDotNet.Attributes;
using Snapshotter.Estargz;

namespace Snapshotter.Benchmarks;

/// <summary>Mount-time cost of a layer's metadata: parsing and indexing a 40,000-entry TOC.</summary>
[MemoryDiagnoser]
public class TocBenchmarks
{
    private byte[] _blob = [];
    private byte[] _tocJson = [];
    private Toc _toc = new();

    [GlobalSetup]
    public void Setup()
    {
        (_blob, var result) = BenchmarkLayers.ManyFiles(40_000);
        _tocJson = result.Toc.ToJson();
        _toc = result.Toc;
    }

    /// <summary>JSON to the TOC model (source-generated System.Text.Json).</summary>
    [Benchmark]
    public int ParseTocJson() => Toc.Parse(_tocJson).Entries.Count;

    /// <summary>Everything a mount does: footer, gunzip of the TOC member, digest check, parse, validation and index.</summary>
    [Benchmark]
    public async Task<int> OpenReader()
    {
        var reader = await EstargzReader.OpenAsync(new MemoryBlobSource(_blob), null);
        return reader.Entries.Count;
    }

    /// <summary>The TOC model back to Go-format JSON, as the builder writes it.</summary>
    [Benchmark]
    public int SerializeTocJson() => _toc.ToJson().Length;
}
