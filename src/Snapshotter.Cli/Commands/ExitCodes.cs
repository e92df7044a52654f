namespace Snapshotter.Cli.Commands;

/// <summary>Exit codes scripts can branch on.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command ran and failed: registry, containerd, a bad image.</summary>
    public const int Failed = 1;

    /// <summary>The command line itself is wrong: an unknown option, a missing or malformed argument.</summary>
    public const int Usage = 2;
}
