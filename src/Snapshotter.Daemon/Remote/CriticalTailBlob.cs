using Snapshotter.Estargz;
using Snapshotter.Fs;

namespace Snapshotter.Daemon.Remote;

/// <summary>
/// The blob a mount reads its footer and TOC from while containerd waits for that mount: its first
/// read, the tail, is a critical TOC read (<see cref="TocReads.BeginCritical"/>), which ends when
/// the bytes are in (or the read failed), before the TOC is parsed. Later reads pass through.
/// </summary>
internal sealed class CriticalTailBlob(IBlobSource inner, IDisposable critical) : IBlobSource
{
    public long Size => inner.Size;

    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            await inner.ReadAsync(offset, destination, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            critical.Dispose();
        }
    }
}
