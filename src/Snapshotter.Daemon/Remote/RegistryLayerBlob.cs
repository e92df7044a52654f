using Snapshotter.Fs;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Daemon.Remote;

/// <summary>A layer blob in a registry as the FUSE layer sees it: each read is one ranged request (bytes verified by the caller), its progress told as the body arrives.</summary>
internal sealed class RegistryLayerBlob(IRangedBlob blob) : IBlob
{
    public IRangedBlob Ranged { get; } = blob ?? throw new ArgumentNullException(nameof(blob));

    public Digest Digest => Ranged.Digest;

    public long Size => Ranged.Size;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        ReadCoreAsync(offset, destination, null, cancellationToken);

    public ValueTask ReadAsync(long offset, Memory<byte> destination, Action<int> filled, CancellationToken cancellationToken) =>
        ReadCoreAsync(offset, destination, filled, cancellationToken);

    private async ValueTask ReadCoreAsync(long offset, Memory<byte> destination, Action<int>? filled, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty)
        {
            filled?.Invoke(0);
            return;
        }
        if (offset < 0 || offset + destination.Length > Size)
        {
            throw new EndOfStreamException($"blob {Digest}: {destination.Length} bytes at {offset} are past its end ({Size} bytes)");
        }
        var progress = filled is null ? null : new Action<BlobRange, int>((_, count) => filled(count));
        await Ranged.ReadAsync([new BlobRange(offset, destination)], progress, cancellationToken).ConfigureAwait(false);
    }
}
