namespace Estargz.Tools.Commands;

/// <summary>Exit codes CI pipelines can branch on.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>
    /// The input is not what it should be: not a tar, not eStargz, a digest mismatch (also of a blob a
    /// registry served), a failed verification, an image or platform that does not exist.
    /// </summary>
    public const int BadInput = 1;

    /// <summary>The command line itself is wrong: an unknown option, a missing argument.</summary>
    public const int Usage = 2;

    /// <summary>A file, directory or registry could not be read or written (permissions, network, authentication): worth a retry.</summary>
    public const int IoError = 3;
}
