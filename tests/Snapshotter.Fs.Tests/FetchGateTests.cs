using Microsoft.Extensions.Time.Testing;

namespace Snapshotter.Fs.Tests;

/// <summary>The gate background fetch waits at: idle while no foreground fetch runs, quiet once none has happened for a while.</summary>
public sealed class FetchGateTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_gate_that_saw_nothing_is_quiet_at_once()
    {
        var gate = new FetchGate(new FakeTimeProvider());
        await gate.WhenQuietAsync(Quiet, TimeSpan.Zero, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_mount_keeps_the_gate_loud_for_the_quiet_period()
    {
        var time = new FakeTimeProvider();
        var gate = new FetchGate(time);
        gate.Touch();
        var quiet = gate.WhenQuietAsync(Quiet, TimeSpan.Zero, TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(4.9));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(quiet.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(0.1));
        await quiet.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task The_quiet_period_counts_from_the_end_of_the_last_foreground_fetch()
    {
        var time = new FakeTimeProvider();
        var gate = new FetchGate(time);
        gate.Enter();
        var quiet = gate.WhenQuietAsync(Quiet, TimeSpan.Zero, TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(60));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(quiet.IsCompleted);
        Assert.Equal(1, gate.ForegroundInFlight);

        gate.Exit();
        Assert.True(gate.WhenIdleAsync(TestContext.Current.CancellationToken).IsCompleted);
        time.Advance(TimeSpan.FromSeconds(3));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(quiet.IsCompleted);

        // Another fetch starts and ends within the period: the period starts again from its end.
        gate.Enter();
        gate.Exit();
        time.Advance(TimeSpan.FromSeconds(3));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(quiet.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(2));
        await quiet.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        // A zero period only waits for the running fetches.
        gate.Enter();
        var idle = gate.WhenQuietAsync(TimeSpan.Zero, TimeSpan.Zero, TestContext.Current.CancellationToken);
        Assert.False(idle.IsCompleted);
        gate.Exit();
        await idle.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task After_a_prefetch_the_longer_period_holds_once_then_the_quiet_period_again()
    {
        var time = new FakeTimeProvider();
        var gate = new FetchGate(time);
        gate.Enter();
        gate.Exit(prefetch: true);

        // The container starting from the prefetched files gets 5 s to itself, not 1.
        var first = gate.WhenQuietAsync(TimeSpan.FromSeconds(1), Quiet, TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(4.9));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(first.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(0.1));
        await first.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        // Once through, later on-demand fetches (no prefetch) hold it for the plain 1 s only.
        gate.Enter();
        gate.Exit();
        var next = gate.WhenQuietAsync(TimeSpan.FromSeconds(1), Quiet, TestContext.Current.CancellationToken);
        Assert.False(next.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        await next.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }
}
