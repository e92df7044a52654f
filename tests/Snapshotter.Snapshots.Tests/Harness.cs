using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

using Snapshotter.Snapshots;
using Snapshotter.Testing;

namespace Snapshotter.Snapshots.Tests;

/// <summary>A snapshotter on a temporary root with a controllable clock; unmounts everything on dispose.</summary>
public sealed class Harness : IAsyncDisposable
{
    public static readonly IReadOnlyDictionary<string, string> NoLabels = new Dictionary<string, string>();

    private readonly TempDirectory _directory = new("snapshots");

    public Harness(IRemoteFileSystem? remote = null, bool allowInvalidMountsOnRestart = false)
    {
        Remote = remote ?? new NoLayersRemoteFileSystem();
        Snapshotter = Open(allowInvalidMountsOnRestart);
    }

    public ManualClock Time { get; } = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    public IRemoteFileSystem Remote { get; }

    public OverlaySnapshotter Snapshotter { get; private set; }

    public string Root => _directory.Combine("root");

    public string Scratch => _directory.Path;

    public static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Closes the store and opens a new snapshotter on the same root, as a daemon restart would.</summary>
    public async Task ReopenAsync(bool allowInvalidMountsOnRestart = false)
    {
        Snapshotter.Dispose();
        Snapshotter = Open(allowInvalidMountsOnRestart);
        await Snapshotter.RestoreAsync(Token);
    }

    public string Fs(string key) =>
        Path.Combine(Root, "snapshots", IdOf(key).ToString(System.Globalization.CultureInfo.InvariantCulture), "fs");

    public long IdOf(string key)
    {
        var mounts = Snapshotter.MountsAsync(key, Token).GetAwaiter().GetResult();
        var upper = UpperOf(mounts);
        return long.Parse(Path.GetFileName(Path.GetDirectoryName(upper))!, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Prepare + write files + commit, returning the committed snapshot's fs directory.</summary>
    public async Task<string> CommitLayerAsync(string name, string parent, IReadOnlyDictionary<string, string>? files = null, IReadOnlyDictionary<string, string>? labels = null)
    {
        var key = "extract-" + name;
        var mounts = await Snapshotter.PrepareAsync(key, parent, NoLabels, Token);
        var upper = UpperOf(mounts);
        foreach (var (path, content) in files ?? new Dictionary<string, string>())
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(upper, path))!);
            await File.WriteAllTextAsync(Path.Combine(upper, path), content, Token);
        }
        await Snapshotter.CommitAsync(name, key, labels ?? NoLabels, Token);
        return upper;
    }

    /// <summary>The writable directory of an active snapshot's mounts (bind source or overlay upperdir).</summary>
    public static string UpperOf(IReadOnlyList<SnapshotMount> mounts) =>
        mounts[0].Type == "bind" ? mounts[0].Source : mounts[0].Options.Single(o => o.StartsWith("upperdir=", StringComparison.Ordinal))["upperdir=".Length..];

    public async ValueTask DisposeAsync()
    {
        Snapshotter.Dispose();
        await Mounts.DetachAllUnderAsync(_directory.Path);
        _directory.Dispose();
    }

    private OverlaySnapshotter Open(bool allowInvalidMountsOnRestart) =>
        new(new SnapshotterOptions { Root = Root, AllowInvalidMountsOnRestart = allowInvalidMountsOnRestart },
            Remote, Time, NullLogger<OverlaySnapshotter>.Instance);
}

internal static class Assertions
{
    public static async Task<SnapshotException> ThrowsSnapshot(SnapshotError expected, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<SnapshotException>(action);
        Assert.True(expected == e.Error, $"expected {expected}, got {e.Error}: {e.Message}");
        return e;
    }

    public static ILogger<T> Logger<T>() => NullLogger<T>.Instance;
}

/// <summary>A clock that moves only when told to.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
