using System.Globalization;
using Snapshotter.Containerd.Pull;
using Spectre.Console;

namespace Snapshotter.Cli.Commands;

/// <summary>
/// How <c>rpull</c> shows its progress on stdout: a live line per layer on a terminal, a plain line
/// per layer event otherwise (logs, pipes), or nothing with <c>--quiet</c>.
/// </summary>
internal abstract class PullDisplay : IPullProgress
{
    private PullPlan? _plan;

    public static PullDisplay For(bool quiet) =>
        quiet ? new QuietDisplay() : Console.IsOutputRedirected ? new PlainDisplay(Console.Out) : new LiveDisplay();

    protected PullPlan Plan => _plan ?? throw new InvalidOperationException("no plan yet");

    public virtual Task<PullResult> RunAsync(Func<IPullProgress, Task<PullResult>> pull) => pull(this);

    public virtual void Planned(PullPlan plan) => _plan = plan;

    public abstract void LayerChanged(int index, LayerPhase phase, long bytes);

    public virtual void Summary(PullResult result, TimeSpan elapsed) => Console.Out.WriteLine(SummaryText(result, elapsed));

    internal static string SummaryText(PullResult result, TimeSpan elapsed)
    {
        int Count(LayerOutcome outcome) => result.Layers.Count(l => l.Outcome == outcome);
        return string.Format(CultureInfo.InvariantCulture,
            "pulled {0} in {1:F1} s: {2} layer(s) lazy, {3} fetched and applied ({4:N0} bytes), {5} already present",
            result.Image.Name, elapsed.TotalSeconds, Count(LayerOutcome.Lazy), Count(LayerOutcome.Applied),
            result.Layers.Sum(l => l.BytesFetched), Count(LayerOutcome.Present));
    }

    protected string LayerName(int index) =>
        string.Format(CultureInfo.InvariantCulture, "layer {0}/{1} {2}", index + 1, Plan.Layers.Count, Plan.Layers[index].Digest.Hex[..12]);

    protected static string PlanText(PullPlan plan) => string.Format(CultureInfo.InvariantCulture,
        "{0}: manifest {1}{2}, {3} layer(s)", plan.Name, plan.Manifest.Digest, plan.Platform is null ? "" : $" ({plan.Platform})", plan.Layers.Count);

    protected static string PhaseText(LayerPhase phase, long bytes, long size) => phase switch
    {
        LayerPhase.Present => "already present",
        LayerPhase.Lazy => "lazy (mounted remotely)",
        LayerPhase.Fetching => string.Format(CultureInfo.InvariantCulture, "fetching {0:N0} of {1:N0} bytes", bytes, size),
        LayerPhase.Applying => string.Format(CultureInfo.InvariantCulture, "applying ({0:N0} bytes fetched)", bytes),
        LayerPhase.Applied => string.Format(CultureInfo.InvariantCulture, "applied ({0:N0} bytes fetched)", bytes),
        _ => "waiting",
    };

    private sealed class QuietDisplay : PullDisplay
    {
        public override void LayerChanged(int index, LayerPhase phase, long bytes)
        {
        }

        public override void Summary(PullResult result, TimeSpan elapsed)
        {
        }
    }

    /// <summary>One line per event worth a line: the plan, each layer's start of fetch and its outcome.</summary>
    private sealed class PlainDisplay(TextWriter output) : PullDisplay
    {
        public override void Planned(PullPlan plan)
        {
            base.Planned(plan);
            output.WriteLine("resolved " + PlanText(plan));
        }

        public override void LayerChanged(int index, LayerPhase phase, long bytes)
        {
            if (phase is LayerPhase.Fetching && bytes > 0)
            {
                return;
            }
            output.WriteLine($"{LayerName(index)}: {PhaseText(phase, bytes, Plan.Layers[index].Size)}");
        }
    }

    /// <summary>A Spectre.Console progress line per layer: its phase, and a bar of the bytes fetched.</summary>
    private sealed class LiveDisplay : PullDisplay
    {
        private readonly List<ProgressTask> _tasks = [];
        private ProgressContext? _context;

        public override Task<PullResult> RunAsync(Func<IPullProgress, Task<PullResult>> pull) =>
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                .StartAsync(context =>
                {
                    _context = context;
                    return pull(this);
                });

        public override void Planned(PullPlan plan)
        {
            base.Planned(plan);
            AnsiConsole.MarkupLineInterpolated($"[bold]{PlanText(plan)}[/]");
            for (var i = 0; i < plan.Layers.Count; i++)
            {
                var task = _context!.AddTask(Markup.Escape($"{LayerName(i)} waiting"), autoStart: false, maxValue: Math.Max(1, plan.Layers[i].Size));
                _tasks.Add(task);
            }
        }

        public override void LayerChanged(int index, LayerPhase phase, long bytes)
        {
            var task = _tasks[index];
            task.Description = Markup.Escape($"{LayerName(index)} {PhaseText(phase, bytes, Plan.Layers[index].Size)}");
            switch (phase)
            {
                case LayerPhase.Fetching:
                    task.StartTask();
                    task.Value = bytes;
                    break;
                case LayerPhase.Present or LayerPhase.Lazy:
                    // Nothing fetched: the bar shows the layer done, the byte column what came over the wire (none).
                    task.MaxValue = 1;
                    task.Value = 0;
                    task.StopTask();
                    break;
                case LayerPhase.Applied:
                    task.Value = task.MaxValue;
                    task.StopTask();
                    break;
            }
        }
    }
}
