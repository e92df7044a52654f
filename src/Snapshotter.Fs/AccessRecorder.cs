using System.Text;

namespace Snapshotter.Fs;

/// <summary>
/// The order in which a layer's files and directories were first used (looked up or opened), served
/// as <c>.stargz-snapshotter/accessed.txt</c>, one layer path per line: what <c>estargz optimize</c>
/// turns into the files put before <c>.prefetch.landmark</c>. Cheap enough to stay on: after a node's
/// first use, a use costs one bit test; the list holds each node at most once.
/// </summary>
internal sealed class AccessRecorder(int nodeCount)
{
    private const string WhiteoutPrefix = ".wh.";

    private readonly NodeFlags _seen = new(nodeCount);
    private readonly Lock _lock = new();
    private byte[] _text = new byte[4096];
    private int _length;

    /// <summary>The bytes of the list so far; it only grows, so earlier offsets keep their content.</summary>
    public int Length => Volatile.Read(ref _length);

    public void Record(Node node)
    {
        var ino = node.Ino;
        if (node.Kind != NodeKind.Entry || ino == LayerTree.RootIno || !_seen.TrySet(ino))
        {
            return;
        }
        if (IsWhiteout(node.Path))
        {
            return; // overlayfs sees a whiteout as absence; nothing the workload reads
        }
        Append(node.Path);
    }

    /// <summary>Copies the list's bytes from <paramref name="offset"/>; returns how many.</summary>
    public int Read(long offset, Span<byte> buffer)
    {
        lock (_lock)
        {
            if (offset >= _length)
            {
                return 0;
            }
            var count = (int)Math.Min(buffer.Length, _length - offset);
            _text.AsSpan((int)offset, count).CopyTo(buffer);
            return count;
        }
    }

    private void Append(string path)
    {
        var size = Encoding.UTF8.GetByteCount(path) + 1;
        lock (_lock)
        {
            if (_length + size > _text.Length)
            {
                Array.Resize(ref _text, Math.Max(_text.Length * 2, _length + size));
            }
            _length += Encoding.UTF8.GetBytes(path, _text.AsSpan(_length));
            _text[_length] = (byte)'\n';
            Volatile.Write(ref _length, _length + 1);
        }
    }

    private static bool IsWhiteout(string path)
    {
        var slash = path.LastIndexOf('/');
        return path.AsSpan(slash + 1).StartsWith(WhiteoutPrefix, StringComparison.Ordinal);
    }
}
