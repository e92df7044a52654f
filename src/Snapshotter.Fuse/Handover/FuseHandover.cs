using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse.Handover;

/// <summary>
/// Keeps mounted FUSE connections across restarts of the process serving them. For every mount
/// it stores the connection's queue descriptors in an <see cref="IFdStore"/> (name
/// <c>fuse-&lt;hash of the mount point&gt;</c>) and writes what the next server needs beside
/// them: the mount point, the identity of what is served (e.g. a TOC digest) and the parameters
/// INIT settled (the kernel sends INIT once per connection). At the next start the mounts whose
/// descriptors came back are handed out with <see cref="TryTake"/>; <see cref="ReleaseUnclaimed"/>
/// unmounts the rest.
/// </summary>
public sealed class FuseHandover : IDisposable
{
    public const string NamePrefix = "fuse-";

    private readonly IFdStore _store;
    private readonly string _stateDirectory;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Inherited> _inherited = new(StringComparer.Ordinal);

    /// <summary>Matches the store's inherited descriptors with the state files in <paramref name="stateDirectory"/>; unmatched ones are discarded.</summary>
    public FuseHandover(IFdStore store, string stateDirectory, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        _store = store;
        _stateDirectory = stateDirectory;
        _logger = logger;
        Directory.CreateDirectory(stateDirectory);
        var descriptors = store.Inherited.Where(i => i.Key.StartsWith(NamePrefix, StringComparison.Ordinal))
            .ToDictionary(i => i.Key, i => i.Value, StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(stateDirectory, "*.json"))
        {
            var state = Read(file);
            var name = state is null ? null : NameOf(state.MountPoint);
            if (state is null || name != NamePrefix + Path.GetFileNameWithoutExtension(file) || !descriptors.Remove(name, out var fds))
            {
                // Written, but its descriptors were never stored or have been dropped: the connection is gone.
                File.Delete(file);
                continue;
            }
            _inherited[state.MountPoint] = new Inherited(state, fds);
        }
        foreach (var (name, fds) in descriptors)
        {
            CloseAll(fds);
            _store.Remove(name);
        }
        HandoverLog.Inherited(_logger, _inherited.Count, store.GetType().Name);
    }

    /// <summary>Mount points whose connection came back from the store; they stay mounted until taken or released.</summary>
    public IReadOnlyCollection<string> InheritedMountPoints
    {
        get
        {
            lock (_gate)
            {
                return [.. _inherited.Keys];
            }
        }
    }

    /// <summary>
    /// The connection mounted at <paramref name="mountPoint"/> by a previous process, if it still is
    /// and served <paramref name="identity"/>; the caller serves it (no INIT comes) and calls
    /// <see cref="Keep"/>. A connection for something else, or no longer mounted, is discarded and
    /// unmounted: null then means "mount afresh".
    /// </summary>
    public InheritedConnection? TryTake(string mountPoint, string identity)
    {
        mountPoint = Normalize(mountPoint);
        Inherited? inherited;
        lock (_gate)
        {
            if (!_inherited.Remove(mountPoint, out inherited))
            {
                return null;
            }
        }
        if (inherited.State.Identity != identity || !FuseMount.IsMounted(mountPoint))
        {
            HandoverLog.Mismatched(_logger, mountPoint, inherited.State.Identity, identity);
            Discard(inherited);
            return null;
        }
        HandoverLog.Taken(_logger, mountPoint, inherited.Descriptors.Count);
        return new InheritedConnection(FuseDevice.Adopt(inherited.Descriptors), inherited.State.Connection);
    }

    /// <summary>
    /// Records the connection served at <paramref name="mountPoint"/> and stores its descriptors,
    /// after its server started (so that every queue exists). Call again after adding queues.
    /// </summary>
    public void Keep(string mountPoint, string identity, FuseDevice device, FuseConnectionParameters connection)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(connection);
        mountPoint = Normalize(mountPoint);
        var state = new HandoverState(mountPoint, identity, connection);
        // State first: descriptors without state are discarded at the next start, state without descriptors too.
        var file = StatePath(mountPoint);
        var temporary = file + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(state, HandoverJson.Default.HandoverState));
        File.Move(temporary, file, overwrite: true);
        _store.Store(NameOf(mountPoint), device.QueueDescriptors);
    }

    /// <summary>Stops keeping the connection of <paramref name="mountPoint"/> (it was unmounted).</summary>
    public void Forget(string mountPoint)
    {
        mountPoint = Normalize(mountPoint);
        _store.Remove(NameOf(mountPoint));
        File.Delete(StatePath(mountPoint));
    }

    /// <summary>Unmounts and closes every inherited connection nobody took (their snapshots are gone); returns their mount points.</summary>
    public IReadOnlyList<string> ReleaseUnclaimed()
    {
        List<Inherited> unclaimed;
        lock (_gate)
        {
            unclaimed = [.. _inherited.Values];
            _inherited.Clear();
        }
        foreach (var inherited in unclaimed)
        {
            HandoverLog.Unclaimed(_logger, inherited.State.MountPoint);
            Discard(inherited);
        }
        return [.. unclaimed.Select(i => i.State.MountPoint)];
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var inherited in _inherited.Values)
            {
                CloseAll(inherited.Descriptors);
            }
            _inherited.Clear();
        }
        _store.Dispose();
    }

    /// <summary>Detaches the mount (if still there), closes our descriptors and the store's: the connection ends.</summary>
    private void Discard(Inherited inherited)
    {
        var mountPoint = inherited.State.MountPoint;
        var device = FuseDevice.Adopt(inherited.Descriptors);
        try
        {
            if (FuseMount.IsMounted(mountPoint))
            {
                FuseMount.Adopt(mountPoint, device).Unmount();
            }
        }
        catch (IOException e)
        {
            HandoverLog.DiscardUnmountFailed(_logger, mountPoint, e);
        }
        finally
        {
            device.Dispose();
        }
        Forget(mountPoint);
    }

    private static void CloseAll(IEnumerable<int> fds)
    {
        foreach (var fd in fds)
        {
            Libc.Close(fd);
        }
    }

    private HandoverState? Read(string file)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(file), HandoverJson.Default.HandoverState);
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            HandoverLog.StateUnreadable(_logger, file, e);
            return null;
        }
    }

    private static string Normalize(string mountPoint) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));

    private static string Key(string mountPoint) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(mountPoint)))[..16];

    private static string NameOf(string mountPoint) => NamePrefix + Key(Normalize(mountPoint));

    private string StatePath(string mountPoint) => Path.Combine(_stateDirectory, Key(mountPoint) + ".json");

    private sealed record Inherited(HandoverState State, IReadOnlyList<int> Descriptors);
}

/// <summary>A connection handed over by a previous process: serve <see cref="Device"/> with <see cref="FuseServerOptions.Negotiated"/> = <see cref="Parameters"/>.</summary>
public sealed record InheritedConnection(FuseDevice Device, FuseConnectionParameters Parameters);

/// <summary>What a state file holds for one kept connection.</summary>
internal sealed record HandoverState(string MountPoint, string Identity, FuseConnectionParameters Connection);

/// <summary>
/// The state files' JSON, generated at build time: reflection-based serialization costs ~0.1 s
/// the first time, and the first time is a pull's first mount. Same JSON as the reflection
/// default, so files written by earlier versions still read.
/// </summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(HandoverState))]
internal sealed partial class HandoverJson : System.Text.Json.Serialization.JsonSerializerContext;
