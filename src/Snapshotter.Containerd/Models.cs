using Snapshotter.Oci;

namespace Snapshotter.Containerd;

/// <summary>A blob of containerd's content store and its labels.</summary>
public sealed record ContentInfo(Digest Digest, long Size, DateTimeOffset Created, DateTimeOffset Updated, IReadOnlyDictionary<string, string> Labels);

/// <summary>An image record: a name and the root descriptor (index or manifest) it points to.</summary>
public sealed record ImageRecord(string Name, Descriptor Target)
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public DateTimeOffset Created { get; init; }

    public DateTimeOffset Updated { get; init; }
}

/// <summary>containerd's snapshot kinds.</summary>
public enum SnapshotKind
{
    Unknown = 0,
    View = 1,
    Active = 2,
    Committed = 3,
}

/// <summary>A snapshot as containerd reports it (names are the client's keys, not the backend's).</summary>
public sealed record SnapshotRecord(string Name, string Parent, SnapshotKind Kind, IReadOnlyDictionary<string, string> Labels, DateTimeOffset Created, DateTimeOffset Updated);

/// <summary>A mount(2) to perform, as a snapshotter returns it.</summary>
public sealed record MountSpec(string Type, string Source, IReadOnlyList<string> Options)
{
    public string Target { get; init; } = "";
}

/// <summary>A lease and its labels.</summary>
public sealed record LeaseRecord(string Id, DateTimeOffset Created, IReadOnlyDictionary<string, string> Labels);

/// <summary>A resource a lease holds: type <c>content</c> (id = digest), <c>snapshots/&lt;snapshotter&gt;</c> (id = key), <c>ingests</c> (id = ref).</summary>
public sealed record LeaseResource(string Type, string Id);
