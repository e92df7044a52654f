using Snapshotter.Oci;

namespace Snapshotter.Containerd.Pull;

/// <summary>Where a layer is in a pull.</summary>
public enum LayerPhase
{
    /// <summary>Not reached yet.</summary>
    Waiting,
    /// <summary>Its snapshot already existed: nothing to do.</summary>
    Present,
    /// <summary>The snapshotter mounted it remotely (lazily): no blob was fetched.</summary>
    Lazy,
    /// <summary>Fetching the blob into the content store (the snapshotter fell back, or it is not lazy-pullable).</summary>
    Fetching,
    /// <summary>Unpacking the fetched blob with containerd's diff service.</summary>
    Applying,
    /// <summary>Fetched, unpacked and committed.</summary>
    Applied,
}

/// <summary>The image a pull resolved, before any layer is handled.</summary>
public sealed record PullPlan(string Name, Descriptor Target, Descriptor Manifest, Platform? Platform, IReadOnlyList<Descriptor> Layers);

/// <summary>Hears how a pull goes; one call at a time, though not always from the same thread.</summary>
public interface IPullProgress
{
    void Planned(PullPlan plan);

    /// <summary>Layer <paramref name="index"/> (bottom first) reached <paramref name="phase"/>; <paramref name="bytes"/> fetched so far.</summary>
    void LayerChanged(int index, LayerPhase phase, long bytes);
}
