namespace Snapshotter.Benchmark.Model;

/// <summary>The machine and the versions of the tools a result was measured with.</summary>
internal sealed record MachineInfo(
    string Cpu, int Cores, double MemoryGiB, string Kernel, string OperatingSystem, IReadOnlyDictionary<string, string> Tools)
{
    public string Describe() =>
        FormattableString.Invariant($"{Cores} × {Cpu}, {MemoryGiB:F0} GiB, {OperatingSystem}, kernel {Kernel}");
}
