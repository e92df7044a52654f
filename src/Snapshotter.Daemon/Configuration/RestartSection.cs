using Tomlyn.Model;

namespace Snapshotter.Daemon;

/// <summary>Where mounted layers' FUSE connections are kept while the daemon restarts.</summary>
public enum FdStoreKind
{
    /// <summary>systemd's store when started by systemd (<c>$NOTIFY_SOCKET</c>), else our holder process.</summary>
    Auto,

    /// <summary>systemd's per-service descriptor store (the unit needs <c>FileDescriptorStoreMax=</c>).</summary>
    Systemd,

    /// <summary>Our holder process (<c>stargz-snapshotter fd-holder</c>) on a unix socket.</summary>
    Holder,

    /// <summary>Nothing kept: layers are unmounted when the daemon stops, and running containers lose them.</summary>
    None,
}

/// <summary>The <c>[restart]</c> section: mounted layers outlive a restart or a crash of the daemon.</summary>
public sealed record RestartConfig
{
    public FdStoreKind FdStore { get; init; } = FdStoreKind.Auto;

    /// <summary>The holder's socket; empty: <c>&lt;root&gt;/fdstore.sock</c>.</summary>
    public string HolderSocket { get; init; } = "";

    public string HolderSocketPath(string root) => HolderSocket.Length > 0 ? HolderSocket : Path.Combine(root, "fdstore.sock");

    internal static RestartConfig FromToml(TomlTable table, TomlValues values)
    {
        var config = new RestartConfig();
        foreach (var (key, value) in table)
        {
            config = key switch
            {
                "fd_store" => config with { FdStore = ParseKind(values, key, values.Text(key, value)) },
                "holder_socket" => config with { HolderSocket = values.Text(key, value) },
                _ => throw values.Unknown(key),
            };
        }
        return config;
    }

    internal void Validate(TomlValues values)
    {
        if (HolderSocket.Length > 0 && !Path.IsPathFullyQualified(HolderSocket))
        {
            throw values.Error("holder_socket", $"must be empty or an absolute path, got '{HolderSocket}'");
        }
    }

    private static FdStoreKind ParseKind(TomlValues values, string key, string text) => text switch
    {
        "auto" => FdStoreKind.Auto,
        "systemd" => FdStoreKind.Systemd,
        "holder" => FdStoreKind.Holder,
        "none" => FdStoreKind.None,
        _ => throw values.Error(key, $"must be \"auto\", \"systemd\", \"holder\" or \"none\", got '{text}'"),
    };
}
