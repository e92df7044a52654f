using System.Globalization;
using Snapshotter.Oci;
using Spectre.Console;

namespace Estargz.Tools.Conversion;

/// <summary>
/// Per-layer progress: a live bar per layer on an interactive terminal, otherwise one line per
/// finished step on stderr (CI logs), or nothing with <c>--quiet</c>/<c>--json</c>.
/// </summary>
internal sealed class ConversionProgress(ProgressContext? context, TextWriter? lines)
{
    public static ConversionProgress Silent { get; } = new(null, null);

    public LayerTask StartLayer(Descriptor layer)
    {
        var name = Short(layer.Digest);
        var task = context?.AddTask($"layer {name}", maxValue: Math.Max(1, layer.Size));
        return new LayerTask(name, layer.Size, task, lines);
    }

    /// <summary>Says how a blob reached the target (written, already there, mounted).</summary>
    public void Stored(Descriptor blob, BlobStore store)
    {
        var text = string.Format(CultureInfo.InvariantCulture, "blob {0} ({1:N0} bytes): {2}", Short(blob.Digest), blob.Size, store switch
        {
            BlobStore.Skipped => "skipped, the target has it",
            BlobStore.Mounted => "mounted from the source repository",
            _ => "stored",
        });
        if (context is not null)
        {
            context.AddTask(Markup.Escape(text), maxValue: 1).Increment(1);
        }
        lines?.WriteLine(text);
    }

    private static string Short(Digest digest) => digest.Hex[..12];

    internal sealed class LayerTask(string name, long size, ProgressTask? task, TextWriter? lines) : IDisposable
    {
        private readonly DateTime _started = DateTime.UtcNow;

        /// <summary>Starts a step (fetch, convert) whose progress is the bytes of the source layer done.</summary>
        public IProgress<long> Phase(string step)
        {
            if (task is not null)
            {
                task.Description = $"{step} layer {name}";
                task.Value = 0;
            }
            return new Progress(task);
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

        private sealed class Progress(ProgressTask? task) : IProgress<long>
        {
            public void Report(long value)
            {
                if (task is not null)
                {
                    task.Value = value;
                }
            }
        }
    }
}
