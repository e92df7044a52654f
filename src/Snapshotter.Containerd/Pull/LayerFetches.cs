using Snapshotter.Oci;

namespace Snapshotter.Containerd.Pull;

/// <summary>
/// Layer blobs fetched ahead of their turn. Layers are prepared, applied and committed one after
/// another (each needs its parent), but once the snapshotter has refused a layer, the layers above
/// it that carry no TOC digest (plain gzip, zstd, tar) will be refused too: their blobs are fetched
/// in the background, <see cref="MaxConcurrent"/> at a time, while the layers below are applied.
/// Layers with a TOC digest are left to the snapshotter and fetched only when it refuses them.
/// </summary>
internal sealed class LayerFetches(
    IReadOnlyList<Descriptor> layers, Func<int, CancellationToken, Task<long>> fetch, Func<int, CancellationToken, Task<long?>> fetchAhead,
    CancellationToken cancellationToken) : IAsyncDisposable
{
    public const int MaxConcurrent = 3;
    public const string TocDigestAnnotation = "containerd.io/snapshot/stargz/toc.digest";

    private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    private readonly SemaphoreSlim _slots = new(MaxConcurrent);
    private readonly Dictionary<int, Task<long?>> _ahead = [];

    /// <summary>Starts fetching every layer from <paramref name="first"/> up that has no TOC digest and is not fetched yet.</summary>
    public void StartAhead(int first)
    {
        for (var i = first; i < layers.Count; i++)
        {
            if (layers[i].Annotation(TocDigestAnnotation) is null && !_ahead.ContainsKey(i))
            {
                _ahead[i] = FetchInTurnAsync(i);
            }
        }
    }

    /// <summary>Layer <paramref name="index"/>'s blob in the content store: the fetch ahead's result, or a fetch now; the bytes fetched.</summary>
    public async Task<long> FetchAsync(int index) =>
        (_ahead.Remove(index, out var ahead) ? await ahead.ConfigureAwait(false) : null)
        ?? await fetch(index, _stop.Token).ConfigureAwait(false);

    /// <summary>
    /// The layer is not needed after all (the snapshotter took it, or its snapshot exists): waits for
    /// a fetch ahead to end, so its progress comes before the layer's outcome. Its blob stays, as
    /// containerd's own unpacker leaves the layers it fetched ahead; the manifest references it.
    /// </summary>
    public async Task ForgetAsync(int index)
    {
        if (!_ahead.Remove(index, out var ahead))
        {
            return;
        }
        try
        {
            await ahead.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A failed fetch of a layer nobody needs is no failure of the pull.
        }
    }

    /// <summary>Cancels what is still fetching and waits for it, so nothing writes once the pull is over.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var ahead in _ahead.Values)
        {
            try
            {
                await ahead.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Canceled, or failed: the pull has ended either way and reported its own outcome.
            }
        }
        _ahead.Clear();
        _stop.Dispose();
        _slots.Dispose();
    }

    private async Task<long?> FetchInTurnAsync(int index)
    {
        await _slots.WaitAsync(_stop.Token).ConfigureAwait(false);
        try
        {
            return await fetchAhead(index, _stop.Token).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }
}
