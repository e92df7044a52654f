using Snapshotter.Oci;

namespace Snapshotter.Cache.Disk;

/// <summary>A chunk file found under chunks/: its key, size and last use (the later of atime and mtime).</summary>
internal readonly record struct ScannedFile(ChunkKey Key, string Path, long Length, long LastAccess);

/// <summary>
/// Walks chunks/ to (re)build the index. The walk tolerates a concurrent GC or ForgetLayer in
/// another process removing what it is looking at; names that are not digests are left alone.
/// </summary>
internal static class EntryScanner
{
    private static readonly EnumerationOptions Options = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = true,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    /// <summary>Every chunk file, and (through <paramref name="emptyDirectory"/>) the layer and shard directories found empty.</summary>
    public static IEnumerable<ScannedFile> Scan(CacheLayout layout, Action<string> emptyDirectory, CancellationToken cancellationToken)
    {
        foreach (var layerDirectory in Enumerate(new DirectoryInfo(layout.Chunks), static d => d.EnumerateDirectories("*", Options)))
        {
            // Parsed once per layer: all its entries share one layer digest string.
            if (!CacheLayout.TryParseName(layerDirectory.Name, out var layer))
            {
                continue;
            }
            var any = false;
            foreach (var shard in Enumerate(layerDirectory, static d => d.EnumerateDirectories("*", Options)))
            {
                cancellationToken.ThrowIfCancellationRequested();
                any = true;
                var files = 0;
                foreach (var file in Enumerate(shard, static d => d.EnumerateFiles("*", Options)))
                {
                    files++;
                    if (TryRead(layer, shard.Name, file) is { } scanned)
                    {
                        yield return scanned;
                    }
                }
                if (files == 0)
                {
                    emptyDirectory(shard.FullName);
                }
            }
            if (!any)
            {
                emptyDirectory(layerDirectory.FullName);
            }
        }
    }

    private static ScannedFile? TryRead(Digest layer, string shard, FileInfo file)
    {
        if (!file.Name.StartsWith(shard, StringComparison.Ordinal) || !CacheLayout.TryParseName(file.Name, out var chunk))
        {
            return null;
        }
        try
        {
            var lastUse = Math.Max(file.LastAccessTimeUtc.Ticks, file.LastWriteTimeUtc.Ticks);
            return new ScannedFile(new ChunkKey(layer, chunk), file.FullName, file.Length, lastUse);
        }
        catch (IOException)
        {
            return null; // removed while we looked
        }
    }

    /// <summary>Enumerates children, yielding nothing if the directory vanishes (another process's GC).</summary>
    private static IEnumerable<T> Enumerate<T>(DirectoryInfo directory, Func<DirectoryInfo, IEnumerable<T>> children)
    {
        IEnumerator<T> enumerator;
        try
        {
            enumerator = children(directory).GetEnumerator();
        }
        catch (DirectoryNotFoundException)
        {
            yield break;
        }
        using (enumerator)
        {
            while (true)
            {
                try
                {
                    if (!enumerator.MoveNext())
                    {
                        yield break;
                    }
                }
                catch (DirectoryNotFoundException)
                {
                    yield break;
                }
                yield return enumerator.Current;
            }
        }
    }
}
