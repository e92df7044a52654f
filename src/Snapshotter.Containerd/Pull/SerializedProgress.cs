namespace Snapshotter.Containerd.Pull;

/// <summary>Hands progress on one call at a time: fetches ahead report from other threads.</summary>
internal sealed class SerializedProgress(IPullProgress inner) : IPullProgress
{
    private readonly Lock _lock = new();

    public void Planned(PullPlan plan)
    {
        lock (_lock)
        {
            inner.Planned(plan);
        }
    }

    public void LayerChanged(int index, LayerPhase phase, long bytes)
    {
        lock (_lock)
        {
            inner.LayerChanged(index, phase, bytes);
        }
    }
}
