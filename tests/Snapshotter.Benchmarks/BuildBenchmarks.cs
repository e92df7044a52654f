using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Snapshotter.Estargz;

namespace Snapshotter.Benchmarks;

/// <summary>Conversion throughput in MB/s of uncompressed input, per zlib level and parallelism.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class BuildBenchmarks
{
    public const int InputBytes = 32 * 1024 * 1024;

    private byte[] _tar = [];

    [Params(1, 6, 9)]
    public int CompressionLevel { get; set; }

    [Params(1, 0)]
    public int Parallelism { get; set; } // 0 = all cores

    [GlobalSetup]
    public void Setup() => _tar = BenchmarkLayers.MixedTar(InputBytes);

    [Benchmark]
    public async Task<long> Build()
    {
        var options = new EstargzBuildOptions
        {
            CompressionLevel = CompressionLevel,
            Parallelism = Parallelism == 0 ? Environment.ProcessorCount : Parallelism,
        };
        var result = await EstargzBuilder.BuildAsync(new MemoryStream(_tar), Stream.Null, options);
        return result.CompressedSize;
    }

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new ThroughputColumn());
    }

    /// <summary>MB/s of uncompressed tar input, from the mean time of one build.</summary>
    private sealed class ThroughputColumn : IColumn
    {
        public string Id => nameof(ThroughputColumn);
        public string ColumnName => "MB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Megabytes (10^6) of uncompressed input converted per second";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            var report = summary[benchmarkCase];
            var meanNanoseconds = report?.ResultStatistics?.Mean;
            return meanNanoseconds is > 0 ? (InputBytes / 1e6 / (meanNanoseconds.Value / 1e9)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) : "-";
        }

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
    }
}
