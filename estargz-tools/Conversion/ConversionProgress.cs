using System.Globalization;
using Snapshotter.Oci;
using Spectre.Console;

namespace Estargz.Tools.Conversion;

/// <summary>
/// Per-layer progress: a live bar per layer on an interactive terminal, otherwise one line per
/// finished layer on stderr (CI logs), or nothing with <c>--quiet</c>/<c>--json</c>.
/// </summary>
internal sealed class ConversionProgress(ProgressContext? context, TextWriter? lines)
{
    public static ConversionProgress Silent { get; } = new(null, null);

    public LayerTask StartLayer(Descriptor layer)
    {
        var name = layer.Digest.Hex[..12];
        var task = context?.AddTask($"layer {name}", maxValue: Math.Max(1, layer.Size));
        return new LayerTask(name, layer.Size, task, lines);
    }

    internal sealed class LayerTask(string name, long size, ProgressTask? task, TextWriter? lines) : IProgress<long>, IDisposable
    {
        private readonly DateTime _started = DateTime.UtcNow;

        public void Report(long value)
        {
            if (task is not null)
            {
                task.Value = value;
            }
        }

        public void Dispose()
        {
            task?.StopTask();
            if (lines is not null)
            {
                var seconds = (DateTime.UtcNow - _started).TotalSeconds;
                lines.WriteLine(string.Format(CultureInfo.InvariantCulture,
                    "converted layer {0} ({1:N0} bytes) in {2:F1} s", name, size, seconds));
            }
        }
    }
}
