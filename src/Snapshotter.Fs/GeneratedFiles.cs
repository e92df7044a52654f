using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Snapshotter.Fuse.Protocol;

namespace Snapshotter.Fs;

/// <summary>
/// The files of <c>.stargz-snapshotter/</c> (layer.json, accessed.txt, reads.json), whose content
/// changes while the layer is used. Each lookup of one of them makes an instance: a node id of
/// its own with the content of that moment, which never changes, so the kernel may cache its
/// pages like any file's and no open needs a handle or direct I/O. The name itself is never
/// cached (entry timeout 0), so the next path walk looks it up again and gets the content of
/// its moment; the kernel forgets the old instance, and so do we.
/// </summary>
internal sealed class GeneratedFiles(AccessRecorder accesses, ReadRecorder reads, IBlob blob, LayerStatistics statistics, TimeSpan timeout)
{
    /// <summary>Instance node ids start here, far above any layer's inode numbers.</summary>
    private const ulong FirstInstance = 1UL << 48;

    private readonly ConcurrentDictionary<ulong, Instance> _instances = new();
    private long _lastInstance = (long)FirstInstance;

    /// <summary>A generated file as one lookup saw it.</summary>
    internal sealed record Instance(ulong NodeId, Node Node, byte[] Content);

    public static bool IsGenerated(Node node) => node.Kind is NodeKind.StatusFile or NodeKind.AccessLog or NodeKind.ReadLog;

    /// <summary>Instances the kernel still holds (tests).</summary>
    public int Count => _instances.Count;

    /// <summary>A new instance of <paramref name="node"/> with its content now.</summary>
    public void Lookup(Node node, ref FuseEntry entry)
    {
        var id = (ulong)Interlocked.Increment(ref _lastInstance);
        var instance = new Instance(id, node, Render(node.Kind));
        _instances[id] = instance;
        entry.NodeId = id;
        entry.Generation = 1;
        entry.SetTimeouts(TimeSpan.Zero, timeout);
        FillAttr(instance, ref entry.Attr);
    }

    public bool TryGet(ulong nodeId, out Instance instance) =>
        _instances.TryGetValue(nodeId, out instance!);

    /// <summary>The kernel let go of an instance: one lookup each, so one forget ends it.</summary>
    public void Forget(ulong nodeId) => _instances.TryRemove(nodeId, out _);

    public static void FillAttr(Instance instance, ref FuseAttr attr) =>
        instance.Node.FillAttr(ref attr, instance.NodeId, instance.Content.Length);

    public static int Read(Instance instance, long offset, Span<byte> buffer)
    {
        var content = instance.Content;
        if (offset >= content.Length)
        {
            return 0;
        }
        var count = (int)Math.Min(buffer.Length, content.Length - offset);
        content.AsSpan((int)offset, count).CopyTo(buffer);
        return count;
    }

    /// <summary>The content a generated node has now (also its size for a GETATTR of the directory's own listing).</summary>
    public byte[] Render(NodeKind kind) => kind switch
    {
        NodeKind.StatusFile => StatusBytes(),
        NodeKind.AccessLog => AccessBytes(),
        NodeKind.ReadLog => reads.Render(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a generated file"),
    };

    private byte[] AccessBytes()
    {
        var content = new byte[accesses.Length];
        return content.AsSpan(0, accesses.Read(0, content)).ToArray();
    }

    /// <summary>The status file: like stargz's, what the layer is and how much of it has been fetched.</summary>
    private byte[] StatusBytes()
    {
        var size = blob.Size;
        var fetched = statistics.FetchedBytes;
        var percent = size == 0 ? 100.0 : Math.Round(100.0 * fetched / size, 2);
        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{{\"digest\":\"{blob.Digest}\",\"size\":{size},\"fetchedSize\":{fetched},\"fetchedPercent\":{percent},\"verificationFailures\":{statistics.VerificationFailures}}}\n"));
    }
}
