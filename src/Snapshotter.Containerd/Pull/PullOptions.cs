using Snapshotter.Oci;

namespace Snapshotter.Containerd.Pull;

public sealed record PullOptions
{
    public const string DefaultSnapshotter = "stargz";

    /// <summary>The snapshotter to unpack into: a remote one mounts eStargz layers lazily.</summary>
    public string Snapshotter { get; init; } = DefaultSnapshotter;

    /// <summary>The platform to pick from an index; null for this machine's.</summary>
    public Platform? Platform { get; init; }

    /// <summary>Labels of the image record.</summary>
    public IReadOnlyDictionary<string, string>? ImageLabels { get; init; }

    /// <summary>How long the pull's lease outlives a client that dies before deleting it.</summary>
    public TimeSpan LeaseExpiry { get; init; } = TimeSpan.FromHours(24);
}

/// <summary>What happened to a layer.</summary>
public enum LayerOutcome
{
    /// <summary>Its snapshot existed already.</summary>
    Present,
    /// <summary>Mounted remotely by the snapshotter; not downloaded.</summary>
    Lazy,
    /// <summary>Downloaded into the content store and unpacked.</summary>
    Applied,
}

public sealed record PulledLayer(Descriptor Layer, Digest DiffId, Digest ChainId, LayerOutcome Outcome, long BytesFetched);

public sealed record PullResult(ImageRecord Image, Descriptor Manifest, Digest Config, Digest ChainId, IReadOnlyList<PulledLayer> Layers);
