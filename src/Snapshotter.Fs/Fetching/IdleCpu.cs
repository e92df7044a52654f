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
/// the policy (IdleCpuTests checks it). Only with CAP_SYS_NICE, which a thread needs to leave
/// SCHED_IDLE again: root in a container without it (Docker's default capabilities) gets no
/// scopes rather than pool threads stuck idle.
/// </remarks>
internal readonly struct IdleCpu : IDisposable
{
    private const int CAP_SYS_NICE = 23;
    private static bool s_permitted = HasCapability(CAP_SYS_NICE);
    private readonly bool _lowered;
    private readonly int _policy;

    private IdleCpu(int policy)
    {
        _lowered = true;
        _policy = policy;
    }

    /// <summary>Whether scopes lower threads in this process (it holds CAP_SYS_NICE).</summary>
    internal static bool Available => Volatile.Read(ref s_permitted);

    /// <summary>Whether the calling thread runs under SCHED_IDLE now.</summary>
    internal static bool CurrentThreadIsIdle => Libc.SchedGetscheduler(0) is var policy && policy >= 0
        && (policy & ~Libc.SCHED_RESET_ON_FORK) == Libc.SCHED_IDLE;

    /// <summary>
    /// Lowers the calling thread when <paramref name="lower"/> holds and it may: from SCHED_OTHER or
    /// SCHED_BATCH only, which take no static priority, so that putting the policy back cannot fail.
    /// Otherwise a scope that does nothing.
    /// </summary>
    public static IdleCpu Enter(bool lower)
    {
        if (!lower || !Volatile.Read(ref s_permitted))
        {
            return default;
        }
        var policy = Libc.SchedGetscheduler(0);
        if ((policy & ~Libc.SCHED_RESET_ON_FORK) is not (Libc.SCHED_OTHER or Libc.SCHED_BATCH)
            || Libc.SchedSetscheduler(0, Libc.SCHED_IDLE, 0) != 0)
        {
            return default;
        }
        return new IdleCpu(policy);
    }

    public void Dispose()
    {
        if (_lowered && Libc.SchedSetscheduler(0, _policy, 0) != 0)
        {
            Volatile.Write(ref s_permitted, false); // not expected with the capability; no more scopes then
        }
    }

    /// <summary>
    /// Lowers the calling thread for the rest of its life, which needs no capability: for a thread
    /// of its own that ends with its work (the local copier). False if the policy stayed.
    /// </summary>
    public static bool LowerForGood() => Libc.SchedSetscheduler(0, Libc.SCHED_IDLE, 0) == 0;

    /// <summary>Whether the effective capability set (<c>CapEff</c> in /proc/self/status) holds <paramref name="capability"/>.</summary>
    private static bool HasCapability(int capability)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("CapEff:", StringComparison.Ordinal))
                {
                    return ulong.TryParse(line.AsSpan(7).Trim(), System.Globalization.NumberStyles.HexNumber, null, out var set)
                        && (set & (1UL << capability)) != 0;
                }
            }
        }
        catch (IOException)
        {
        }
        return false;
    }
}
