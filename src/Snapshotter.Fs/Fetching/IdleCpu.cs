using Snapshotter.Fs.Interop;

namespace Snapshotter.Fs;

/// <summary>
/// Runs a synchronous stretch of prefetch or background-fetch work (decompress, verify, store) with
/// the calling thread under SCHED_IDLE, and puts the thread's policy back when disposed, so that a
/// container starting beside the prefetch gets the cores first: the kernel preempts a SCHED_IDLE
/// thread as soon as any other thread wakes. On two cores the prefetch's work took about one core
/// while the container was created (docs/benchmarks.md, fifteenth round).
/// </summary>
/// <remarks>
/// Only around code that does not await on another thread: the scope ends on the thread that
/// entered it. Threads the runtime starts meanwhile (the thread pool's included) do not inherit
/// the policy (IdleCpuTests checks it). Only for root (the daemon always is): an unprivileged
/// thread may not leave SCHED_IDLE again.
/// </remarks>
internal readonly struct IdleCpu : IDisposable
{
    private const int SCHED_BATCH = 3;
    private static readonly bool Permitted = Environment.IsPrivilegedProcess;
    private readonly bool _lowered;
    private readonly int _policy;

    private IdleCpu(int policy)
    {
        _lowered = true;
        _policy = policy;
    }

    /// <summary>Whether the calling thread runs under SCHED_IDLE now.</summary>
    internal static bool CurrentThreadIsIdle => IsIdle(0);

    /// <summary>
    /// Lowers the calling thread when <paramref name="lower"/> holds and it may: from SCHED_OTHER or
    /// SCHED_BATCH only, which take no static priority, so that putting the policy back cannot fail.
    /// Otherwise a scope that does nothing.
    /// </summary>
    public static IdleCpu Enter(bool lower)
    {
        if (!lower || !Permitted)
        {
            return default;
        }
        var policy = Libc.SchedGetscheduler(0);
        if ((policy & ~Libc.SCHED_RESET_ON_FORK) is not (Libc.SCHED_OTHER or SCHED_BATCH)
            || Libc.SchedSetscheduler(0, Libc.SCHED_IDLE, 0) != 0)
        {
            return default;
        }
        return new IdleCpu(policy);
    }

    public void Dispose()
    {
        if (_lowered)
        {
            _ = Libc.SchedSetscheduler(0, _policy, 0);
        }
    }

    /// <summary>Whether thread <paramref name="threadId"/> (0: the calling one) runs under SCHED_IDLE.</summary>
    internal static bool IsIdle(int threadId) => Libc.SchedGetscheduler(threadId) is var policy && policy >= 0
        && (policy & ~Libc.SCHED_RESET_ON_FORK) == Libc.SCHED_IDLE;
}
