using System.Runtime.InteropServices;

namespace Snapshotter.Cache.Tests;

/// <summary>Stops and resumes a child process by PID, to freeze it at a chosen moment before a SIGKILL.</summary>
internal static partial class Signals
{
    private const int SIGCONT = 18;
    private const int SIGSTOP = 19;

    public static void Stop(int pid) => Send(pid, SIGSTOP);

    public static void Continue(int pid) => Send(pid, SIGCONT);

    /// <summary>Whether every thread of the process is stopped (state T in /proc), so nothing more of it runs.</summary>
    public static bool IsStopped(int pid)
    {
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            var stat = File.ReadAllText(Path.Combine(task, "stat"));
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            if (state is not ('T' or 't'))
            {
                return false;
            }
        }
        return true;
    }

    private static void Send(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
