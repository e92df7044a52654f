using System.IO.Enumeration;
using Snapshotter.Oci;

namespace Snapshotter.Cache.Disk;

/// <summary>A chunk file found under chunks/: its key, size and last use (the later of atime and mtime, UTC ticks).</summary>
internal readonly record struct ScannedFile(ChunkKey Key, long Length, long LastAccess);

/// <summary>
/// Walks chunks/ to (re)build the index: one directory per layer, one stat per file, no
/// FileInfo objects. The walk tolerates another process's GC or ForgetLayer removing what it is
/// looking at; names that are not digests are left alone.
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

    /// <summary>Every chunk file, and (through <paramref name="emptyDirectory"/>) the layer directories found empty.</summary>
    public static IEnumerable<ScannedFile> Scan(CacheLayout layout, Action<string> emptyDirectory, CancellationToken cancellationToken)
    {
        foreach (var layerDirectory in Enumerate(layout.Chunks, static (ref FileSystemEntry entry) => entry.ToFullPath(), static (ref FileSystemEntry entry) => entry.IsDirectory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Parsed once per layer: all its entries share one layer digest string.
            if (!CacheLayout.TryParseName(Path.GetFileName(layerDirectory), out var layer))
            {
                continue;
            }
            var files = 0;
            foreach (var file in Enumerate(layerDirectory, static (ref FileSystemEntry entry) => Read(ref entry), static (ref FileSystemEntry entry) => !entry.IsDirectory))
            {
                files++;
                if (file is { } found)
                {
                    yield return new ScannedFile(found.Key with { Layer = layer }, found.Length, found.LastAccess);
                }
            }
            if (files == 0)
            {
                emptyDirectory(layerDirectory);
            }
        }
    }

    /// <summary>The file's chunk digest (the layer is filled in by the caller), size and last use; null for a foreign name.</summary>
    private static ScannedFile? Read(ref FileSystemEntry entry)
    {
        if (!CacheLayout.TryParseName(entry.FileName.ToString(), out var chunk))
        {
            return null;
        }
        var lastUse = Math.Max(entry.LastAccessTimeUtc.UtcTicks, entry.LastWriteTimeUtc.UtcTicks);
        return new ScannedFile(new ChunkKey(default, chunk), entry.Length, lastUse);
    }

    /// <summary>Enumerates a directory, yielding nothing more once it vanishes (another process's GC).</summary>
    private static IEnumerable<T> Enumerate<T>(string directory, FileSystemEnumerable<T>.FindTransform transform, FileSystemEnumerable<T>.FindPredicate include)
    {
        IEnumerator<T> enumerator;
        try
        {
            enumerator = new FileSystemEnumerable<T>(directory, transform, Options) { ShouldIncludePredicate = include }.GetEnumerator();
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
                catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
                {
                    yield break;
                }
                yield return enumerator.Current;
            }
        }
    }
}
