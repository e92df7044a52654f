using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Snapshotter.Oci;
using ProtoDescriptor = Containerd.Types.ContentDescriptor;
using ProtoMount = Containerd.Types.Mount;

namespace Snapshotter.Containerd;

/// <summary>Between the generated protobuf messages and the public models.</summary>
internal static class Conversions
{
    public static ProtoDescriptor ToProto(this Descriptor descriptor)
    {
        var proto = new ProtoDescriptor
        {
            MediaType = descriptor.MediaType,
            Digest = descriptor.Digest.Value,
            Size = descriptor.Size,
        };
        proto.Annotations.AddAll(descriptor.Annotations);
        return proto;
    }

    public static Descriptor FromProto(this ProtoDescriptor proto, string what) => new()
    {
        MediaType = proto.MediaType,
        Digest = ParseDigest(proto.Digest, what),
        Size = proto.Size,
        Annotations = proto.Annotations.Count == 0 ? null : proto.Annotations.ToDictionary(),
    };

    public static ProtoMount ToProto(this MountSpec mount)
    {
        var proto = new ProtoMount { Type = mount.Type, Source = mount.Source, Target = mount.Target };
        proto.Options.AddRange(mount.Options);
        return proto;
    }

    public static IReadOnlyList<MountSpec> FromProto(this RepeatedField<ProtoMount> mounts) =>
        mounts.Select(m => new MountSpec(m.Type, m.Source, m.Options.ToList()) { Target = m.Target }).ToList();

    public static DateTimeOffset FromProto(this Timestamp? timestamp) =>
        timestamp is null ? default : timestamp.ToDateTimeOffset();

    /// <summary>Copies <paramref name="entries"/> (none when null) into a protobuf map.</summary>
    public static void AddAll(this MapField<string, string> map, IReadOnlyDictionary<string, string>? entries)
    {
        foreach (var (key, value) in entries ?? new Dictionary<string, string>())
        {
            map[key] = value;
        }
    }

    public static Dictionary<string, string> ToDictionary(this MapField<string, string> map) =>
        new(map, StringComparer.Ordinal);

    public static Digest ParseDigest(string text, string what) =>
        Digest.TryParse(text, out var digest) ? digest : throw new ContainerdException($"{what}: containerd answered with an invalid digest '{text}'");
}
