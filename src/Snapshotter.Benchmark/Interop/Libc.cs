using System.Runtime.InteropServices;

namespace Snapshotter.Benchmark.Interop;

/// <summary>The libc calls the benchmark makes, declared once.</summary>
internal static partial class Libc
{
    public const int SIGTERM = 15;
    public const int MNT_DETACH = 2;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "umount2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "sync")]
    public static partial void Sync();

    public const int CLOCK_MONOTONIC = 1;
    public const int TIMER_ABSTIME = 1;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int O_NONBLOCK = 0x800;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const short POLLIN = 0x1;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(SafeHandle fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(SafeHandle fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(SafeHandle fd, byte* buffer, nuint count);

    /// <summary>Sleeps until an absolute CLOCK_MONOTONIC time (the clock <see cref="System.Diagnostics.Stopwatch"/> reads on Linux); returns an errno, not -1.</summary>
    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    public static unsafe partial int ClockNanosleep(int clock, int flags, TimeSpec* request, TimeSpec* remain);

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>TUNSETIFF: attach a /dev/net/tun descriptor to a (new) TUN/TAP interface named in an <see cref="InterfaceRequest"/>.</summary>
    public const ulong TUNSETIFF = 0x400454ca;
    public const short IFF_TUN = 0x0001;
    public const short IFF_NO_PI = 0x1000;

    /// <summary>Each packet read or written carries a 10-byte virtio_net_hdr: what lets the kernel hand over GSO packets.</summary>
    public const short IFF_VNET_HDR = 0x4000;

    /// <summary>TUNSETOFFLOAD: the offloads this reader can take (the argument is the flags, not a pointer).</summary>
    public const ulong TUNSETOFFLOAD = 0x400454d0;
    public const uint TUN_F_CSUM = 0x01;
    public const uint TUN_F_TSO4 = 0x02;
    public const uint TUN_F_TSO6 = 0x04;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeHandle fd, ulong request, nuint argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static unsafe partial int Ioctl(SafeHandle fd, ulong request, InterfaceRequest* argument);

    /// <summary>struct ifreq as TUNSETIFF reads it: a 16-byte interface name, then the flags (the union is 24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 40)]
    public unsafe struct InterfaceRequest
    {
        public fixed byte Name[16];
        public short Flags;
    }
}
