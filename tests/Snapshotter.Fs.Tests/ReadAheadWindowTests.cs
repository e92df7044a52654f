using Snapshotter.Fs.Fetching;

namespace Snapshotter.Fs.Tests;

/// <summary>The layer's own read-ahead after a miss grows while reads find use for it and shrinks while they do not.</summary>
public sealed class ReadAheadWindowTests
{
    private const long KiB = 1024;
    private const long Far = 100 * 1024 * KiB; // further apart than any window

    [Fact]
    public void Reads_of_what_read_ahead_brought_double_the_window_up_to_the_maximum()
    {
        var window = new ReadAheadWindow(members: 100, startBytes: 256 * KiB, maximumBytes: 2048 * KiB);
        window.Missed(0);
        window.Issued(1, 10);
        window.Read(1);
        Assert.Equal(512 * KiB, window.Bytes);
        // Read again, or a member read-ahead did not bring: no change.
        window.Read(1);
        window.Read(50);
        Assert.Equal(512 * KiB, window.Bytes);
        foreach (var member in new[] { 2, 3, 4, 5 })
        {
            window.Read(member);
        }
        Assert.Equal(2048 * KiB, window.Bytes);
    }

    [Fact]
    public void A_miss_that_a_larger_read_ahead_would_have_brought_doubles_the_window()
    {
        var window = new ReadAheadWindow(members: 100, startBytes: 256 * KiB, maximumBytes: 2048 * KiB);
        window.Missed(Far);
        Assert.Equal(256 * KiB, window.Bytes);
        // 1 MiB after the last miss: beyond the window, within the largest one.
        window.Missed(Far + (1024 * KiB));
        Assert.Equal(512 * KiB, window.Bytes);
        // Before a recent miss, or beyond the largest window after it: no evidence.
        window.Missed(Far - KiB);
        window.Missed(3 * Far);
        Assert.Equal(512 * KiB, window.Bytes);
    }

    [Fact]
    public void Far_misses_with_read_ahead_unread_halve_the_window_down_to_the_minimum()
    {
        var window = new ReadAheadWindow(members: 1000, startBytes: 256 * KiB, maximumBytes: 2048 * KiB);
        window.Missed(0);
        window.Issued(1, 5);
        window.Missed(Far);
        // One such miss is not enough.
        Assert.Equal(256 * KiB, window.Bytes);
        for (var miss = 2; miss < 8; miss++)
        {
            window.Issued((miss * 10) + 1, (miss * 10) + 5);
            window.Missed(miss * Far);
        }
        Assert.Equal(ReadAheadWindow.MinimumBytes, window.Bytes);

        // What it brought read before the next far miss: the window grows and is kept.
        window.Issued(100, 110);
        window.Read(105);
        window.Missed(20 * Far);
        Assert.Equal(2 * ReadAheadWindow.MinimumBytes, window.Bytes);
    }

    [Fact]
    public void The_start_is_kept_within_the_minimum_and_the_maximum()
    {
        Assert.Equal(2048 * KiB, new ReadAheadWindow(10, 8192 * KiB, 2048 * KiB).Bytes);
        Assert.Equal(ReadAheadWindow.MinimumBytes, new ReadAheadWindow(10, 1, 2048 * KiB).Bytes);
        // A maximum below the minimum is the window, fixed.
        var small = new ReadAheadWindow(10, 256 * KiB, 16 * KiB);
        for (var miss = 1; miss <= 3; miss++)
        {
            small.Issued(miss, miss);
            small.Missed(miss * Far);
        }
        Assert.Equal(16 * KiB, small.Bytes);
    }
}
