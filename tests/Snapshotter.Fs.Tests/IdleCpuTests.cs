using Snapshotter.Testing;

namespace Snapshotter.Fs.Tests;

[CollectionDefinition(nameof(ThreadPolicies), DisableParallelization = true)]
public sealed class ThreadPolicies;

/// <summary>
/// Prefetch work under SCHED_IDLE: the scope, and that threads started while one is open (the
/// thread pool starts its threads from the thread that queues work) do not inherit the policy,
/// which would leave them idle for good. Alone in its collection: it changes the pool's minimum.
/// </summary>
[Collection(nameof(ThreadPolicies))]
public sealed class IdleCpuTests
{
    /// <summary>Root and CAP_SYS_NICE (as <see cref="IdleCpu"/> itself finds it): what the daemon needs to lower and raise threads.</summary>
    internal static void RequireSysNice()
    {
        Requirements.Root();
        Requirements.Require(IdleCpu.Available, "needs CAP_SYS_NICE (root without it, e.g. in a container with default capabilities)");
    }

    [Fact]
    public void A_scope_lowers_the_calling_thread_and_puts_its_policy_back()
    {
        RequireSysNice();
        Assert.False(IdleCpu.CurrentThreadIsIdle);
        using (IdleCpu.Enter(true))
        {
            Assert.True(IdleCpu.CurrentThreadIsIdle);
            using (IdleCpu.Enter(true))
            {
                Assert.True(IdleCpu.CurrentThreadIsIdle);
            }
            Assert.True(IdleCpu.CurrentThreadIsIdle); // the inner scope found it idle and leaves it so
        }
        Assert.False(IdleCpu.CurrentThreadIsIdle);
        using (IdleCpu.Enter(false))
        {
            Assert.False(IdleCpu.CurrentThreadIsIdle);
        }
    }

    [Fact]
    public async Task Threads_started_from_a_scope_do_not_inherit_it()
    {
        RequireSysNice();
        var token = TestContext.Current.CancellationToken;
        ThreadPool.GetMinThreads(out var minWorkers, out var minIo);
        ThreadPool.SetMinThreads(ThreadPool.ThreadCount + 16, minIo); // so the pool starts threads at once, from the thread that queues
        using var release = new ManualResetEventSlim();
        var policies = new System.Collections.Concurrent.ConcurrentBag<bool>();
        var pooled = new List<Task>();
        Thread started;
        try
        {
            using (IdleCpu.Enter(true))
            {
                Assert.True(IdleCpu.CurrentThreadIsIdle);
                started = new Thread(() => policies.Add(IdleCpu.CurrentThreadIsIdle));
                started.Start();
                for (var i = 0; i < 12; i++)
                {
                    pooled.Add(Task.Run(() =>
                    {
                        policies.Add(IdleCpu.CurrentThreadIsIdle);
                        release.Wait(TimeSpan.FromSeconds(30));
                    }, token));
                }
                Assert.True(SpinWait.SpinUntil(() => policies.Count == 13, TimeSpan.FromSeconds(30))); // no await: the scope ends on this thread
            }
        }
        finally
        {
            release.Set();
            ThreadPool.SetMinThreads(minWorkers, minIo);
        }
        await Task.WhenAll(pooled);
        started.Join();

        Assert.All(policies, Assert.False);
    }
}
