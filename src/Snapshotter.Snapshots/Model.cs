namespace Snapshotter.Snapshots;

/// <summary>containerd's snapshot kinds (the numbers are containerd's enum values).</summary>
public enum SnapshotKind
{
    View = 1,
    Active = 2,
    Committed = 3,
}

/// <summary>What containerd knows of a snapshot: <c>snapshots.Info</c>.</summary>
public sealed record SnapshotInfo(
    string Name,
    string Parent,
    SnapshotKind Kind,
    DateTimeOffset Created,
    DateTimeOffset Updated,
    IReadOnlyDictionary<string, string> Labels);

/// <summary>One mount(2) for containerd to perform: <c>containerd.types.Mount</c> without a target.</summary>
public sealed record SnapshotMount(string Type, string Source, IReadOnlyList<string> Options);

/// <summary>Disk usage of a snapshot's own filesystem directory.</summary>
public readonly record struct SnapshotUsage(long Size, long Inodes);

/// <summary>Label keys of containerd's remote-snapshot protocol (protocols.md §4.5).</summary>
public static class SnapshotLabels
{
    /// <summary>Set by containerd's unpacker: the chain ID the layer's committed snapshot should get.</summary>
    public const string TargetRef = "containerd.io/snapshot.ref";

    /// <summary>Marks a snapshot whose <c>fs</c> directory is a mounted remote (lazy) layer.</summary>
    public const string Remote = "containerd.io/snapshot/remote";

    /// <summary>The value stargz-snapshotter gives <see cref="Remote"/>.</summary>
    public const string RemoteValue = "remote snapshot";

    /// <summary>Prefix of the labels ctr-remote rpull sends (<c>stargz.reference</c>, <c>stargz.digest</c>, …).</summary>
    public const string StargzPrefix = "containerd.io/snapshot/remote/stargz.";

    /// <summary>Prefix of the labels CRI, nerdctl and moby send (<c>cri.image-ref</c>, <c>cri.layer-digest</c>, …).</summary>
    public const string CriPrefix = "containerd.io/snapshot/cri.";

    /// <summary>containerd's limit for a label key plus its value, in bytes.</summary>
    public const int MaxLabelSize = 4096;

    /// <summary>True when a Prepare carries a target ref and a label family a lazy filesystem can resolve.</summary>
    public static bool AsksForRemote(IReadOnlyDictionary<string, string> labels) =>
        labels.ContainsKey(TargetRef) &&
        labels.Keys.Any(k => k.StartsWith(StargzPrefix, StringComparison.Ordinal) || k.StartsWith(CriPrefix, StringComparison.Ordinal));
}
