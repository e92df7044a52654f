using Snapshotter.Fs;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Daemon.Remote;

/// <summary>A layer blob in a registry as the FUSE layer sees it: each read is one ranged request (bytes verified by the caller).</summary>
internal sealed class RegistryLayerBlob(IRangedBlob blob) : IBlob
{
    public IRangedBlob Ranged { get; } = blob ?? throw new ArgumentNullException(nameof(blob));

    public Digest Digest => Ranged.Digest;

    public long Size => Ranged.Size;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty)
        {
            return;
        }
        if (offset < 0 || offset + destination.Length > Size)
        {
            throw new EndOfStreamException($"blob {Digest}: {destination.Length} bytes at {offset} are past its end ({Size} bytes)");
        }
        await Ranged.ReadAsync([new BlobRange(offset, destination)], cancellationToken).ConfigureAwait(false);
    }
}
