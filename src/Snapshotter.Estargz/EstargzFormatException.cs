namespace Snapshotter.Estargz;

/// <summary>
/// The blob is not a well-formed eStargz layer: a bad footer, a truncated or hostile TOC, an
/// entry that escapes the layer root, inconsistent offsets or chunk sizes. Data integrity
/// failures (a chunk or TOC whose digest does not match) are <see cref="Snapshotter.Oci.DigestMismatchException"/>.
/// </summary>
public sealed class EstargzFormatException : Exception
{
    public EstargzFormatException()
    {
    }

    public EstargzFormatException(string message)
        : base(message)
    {
    }

    public EstargzFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
