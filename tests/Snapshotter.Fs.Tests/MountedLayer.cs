using Snapshotter.Estargz;
using Snapshotter.Testing;

namespace Snapshotter.Fs.Tests;

/// <summary>A layer mounted for a test; disposing unmounts it and closes the blob, always.</summary>
internal sealed class MountedLayer : IDisposable
{
    private readonly FileBlob _blob;

    private MountedLayer(FileBlob blob, LayerMount mount)
    {
        _blob = blob;
        Mount = mount;
    }

    public LayerMount Mount { get; }

    public string Path => Mount.MountPoint;

    /// <summary>Takes over a mount made on <paramref name="blob"/> by other means.</summary>
    public static MountedLayer Adopt(FileBlob blob, LayerMount mount) => new(blob, mount);

    public static async Task<MountedLayer> MountAsync(EstargzFile layer, string mountPoint, LayerMountOptions? options = null)
    {
        Directory.CreateDirectory(mountPoint);
        var blob = new FileBlob(layer.Path, layer.BlobDigest);
        try
        {
            var reader = await EstargzReader.OpenAsync(blob, layer.TocDigest);
            var mount = await LayerMount.MountAsync(reader, blob, mountPoint, options);
            return new MountedLayer(blob, mount);
        }
        catch
        {
            blob.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            Mount.Dispose();
        }
        finally
        {
            _blob.Dispose();
            if (Mounts.Under(Path).Count > 0)
            {
                Mounts.DetachAllUnderAsync(Path).GetAwaiter().GetResult();
            }
        }
    }
}
