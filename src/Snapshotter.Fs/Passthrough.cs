using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Snapshotter.Fs;

/// <summary>
/// FUSE passthrough for files whose whole content is local: the first open of a regular file
/// starts writing its verified content (from the chunk cache, fetching what is missing) to
/// <c>&lt;directory&gt;/&lt;content sha256&gt;</c> in the background (one file at a time); opens
/// after that hand the kernel the backing file, so reads and the page cache bypass user space.
/// Until then reads go through the chunk reader. The files count against a shared
/// <see cref="PassthroughBudget"/> and are deleted when the layer is unmounted.
/// </summary>
internal sealed class Passthrough : IDisposable
{
    private readonly string _directory;
    private readonly ChunkReader _chunks;
    private readonly ILogger _logger;
    private readonly Oci.Digest _layer;
    private readonly ConcurrentDictionary<Node, string> _ready = new(ReferenceEqualityComparer.Instance);
    private readonly ConcurrentDictionary<Node, Task> _writing = new(ReferenceEqualityComparer.Instance);
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly PassthroughBudget? _budget;
    private long _reserved;

    public Passthrough(string directory, ChunkReader chunks, Oci.Digest layer, PassthroughBudget? budget, ILogger logger)
    {
        _budget = budget;
        Directory.CreateDirectory(directory);
        _directory = directory;
        _chunks = chunks;
        _layer = layer;
        _logger = logger;
    }

    /// <summary>Files materialised so far.</summary>
    public int ReadyCount => _ready.Count;

    /// <summary>The backing file of <paramref name="node"/> if ready (ownership passes to the caller), else null after starting it.</summary>
    public SafeFileHandle? TryOpen(Node node)
    {
        if (node.ContentDigest is not { } digest || !Oci.Digest.TryParse(digest, out var parsed) || node.Size == 0)
        {
            return null;
        }
        if (_ready.TryGetValue(node, out var path))
        {
            try
            {
                return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            }
            catch (IOException e)
            {
                _ready.TryRemove(node, out _);
                Log.PassthroughFailed(_logger, _layer, node.Path, e);
                return null;
            }
        }
        if (!_stop.IsCancellationRequested && !_writing.ContainsKey(node) && Reserve(node.Size))
        {
            _writing.GetOrAdd(node, n => Task.Run(() => WriteAsync(n, Path.Combine(_directory, parsed.Hex))));
        }
        return null;
    }

    private bool Reserve(long bytes)
    {
        if (_budget is not null && !_budget.TryReserve(bytes))
        {
            return false;
        }
        Interlocked.Add(ref _reserved, bytes);
        return true;
    }

    /// <summary>Waits until every file started so far is written (tests and benchmarks).</summary>
    public Task WhenIdleAsync() => Task.WhenAll(_writing.Values);

    private async Task WriteAsync(Node node, string path)
    {
        try
        {
            await _oneAtATime.WaitAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            if (!File.Exists(path))
            {
                const int Step = 1024 * 1024;
                var buffer = new byte[Step];
                using (var output = File.OpenHandle(temporary, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None, node.Size))
                {
                    var index = 0;
                    for (long offset = 0; offset < node.Size;)
                    {
                        _stop.Token.ThrowIfCancellationRequested();
                        while (node.Chunks[index].FileEnd <= offset)
                        {
                            index++;
                        }
                        var chunk = node.Chunks[index];
                        var within = (int)(offset - chunk.FileOffset);
                        var count = (int)Math.Min(Step, chunk.Size - within);
                        await _chunks.CopyAsync(chunk, within, buffer.AsMemory(0, count), node.Path, _stop.Token).ConfigureAwait(false);
                        await RandomAccess.WriteAsync(output, buffer.AsMemory(0, count), offset, _stop.Token).ConfigureAwait(false);
                        offset += count;
                    }
                }
                File.Move(temporary, path, overwrite: true);
            }
            _ready[node] = path;
        }
        catch (OperationCanceledException)
        {
            File.Delete(temporary);
        }
        catch (Exception e)
        {
            File.Delete(temporary);
            Log.PassthroughFailed(_logger, _layer, node.Path, e);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            Task.WaitAll(_writing.Values.ToArray(), TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // Cancelled writers: their temporary files are removed.
        }
        _stop.Dispose();
        _oneAtATime.Dispose();
        // The kernel keeps backing files it has open; the names go now, and their bytes back to the budget.
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException e)
        {
            Log.PassthroughFailed(_logger, _layer, _directory, e);
        }
        _budget?.Release(Interlocked.Exchange(ref _reserved, 0));
    }
}
