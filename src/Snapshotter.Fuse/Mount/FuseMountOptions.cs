namespace Snapshotter.Fuse;

/// <summary>How <see cref="FuseMount.Mount"/> mounts: mount(2) with fusermount3 as the fallback, or one of them only.</summary>
public enum FuseMountMethod
{
    Auto,
    Syscall,
    Fusermount,
}

/// <summary>Mount options of a FUSE file system.</summary>
public sealed class FuseMountOptions
{
    /// <summary>The source shown in /proc/mounts.</summary>
    public string FsName { get; init; } = "snapshotter";

    /// <summary>The type shown in /proc/mounts is fuse.&lt;Subtype&gt;.</summary>
    public string Subtype { get; init; } = "stargz";

    /// <summary>Let users other than the mounter in (containers run as any user).</summary>
    public bool AllowOther { get; init; } = true;

    /// <summary>Let the kernel check permissions from the mode bits.</summary>
    public bool DefaultPermissions { get; init; } = true;

    public bool ReadOnly { get; init; } = true;

    /// <summary>The largest READ the kernel sends (max_read); 0 leaves the kernel's default.</summary>
    public uint MaxRead { get; init; } = 1024 * 1024;

    public FuseMountMethod Method { get; init; } = FuseMountMethod.Auto;
}
