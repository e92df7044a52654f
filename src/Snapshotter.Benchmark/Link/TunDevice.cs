using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Snapshotter.Benchmark.Interop;

namespace Snapshotter.Benchmark.Link;

/// <summary>
/// A TUN interface (IP packets, no packet-info header) owned by this process: it exists while the
/// descriptor is open and disappears with it, even if the process is killed. One read returns one
/// packet the kernel routed into the interface; one write hands one packet to the kernel as received.
/// read(2) and write(2) directly: a FileStream per packet costs more than the copy. Packets carry a
/// virtio_net_hdr and the interface takes checksum and TSO offload, so TCP arrives as GSO packets of
/// up to 64 KiB instead of 1,500-byte segments: a tenth of the system calls, and so of the CPU the
/// delay line takes from the machine it measures. Forwarded unchanged, the header tells the other
/// interface how to segment and checksum.
/// </summary>
internal sealed class TunDevice : IDisposable
{
    /// <summary>Interface names are at most 15 bytes (IFNAMSIZ 16 with the terminating zero).</summary>
    public const int MaxNameLength = 15;

    /// <summary>The largest read: a 64 KiB GSO packet and its virtio_net_hdr.</summary>
    public const int MaxPacket = 65536 + 64;

    private readonly SafeFileHandle _handle;

    private TunDevice(string name, SafeFileHandle handle)
    {
        Name = name;
        _handle = handle;
    }

    public string Name { get; }

    public static unsafe TunDevice Create(string name)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name);
        if (nameBytes.Length is 0 or > MaxNameLength)
        {
            throw new ArgumentException($"interface name '{name}' must be 1–{MaxNameLength} characters", nameof(name));
        }
        var handle = File.OpenHandle("/dev/net/tun", FileMode.Open, FileAccess.ReadWrite);
        try
        {
            var request = new Libc.InterfaceRequest { Flags = Libc.IFF_TUN | Libc.IFF_NO_PI | Libc.IFF_VNET_HDR };
            nameBytes.CopyTo(new Span<byte>(request.Name, 16));
            if (Libc.Ioctl(handle, Libc.TUNSETIFF, &request) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"TUNSETIFF {name}: {new Win32Exception(errno).Message}");
            }
            if (Libc.Ioctl(handle, Libc.TUNSETOFFLOAD, Libc.TUN_F_CSUM | Libc.TUN_F_TSO4 | Libc.TUN_F_TSO6) != 0)
            {
                throw new IOException($"TUNSETOFFLOAD {name}: {new Win32Exception(Marshal.GetLastPInvokeError()).Message}");
            }
            // Non-blocking, so that a reader waits in poll(2) with a timeout and can be stopped.
            if (Libc.Fcntl(handle, Libc.F_SETFL, Libc.Fcntl(handle, Libc.F_GETFL, 0) | Libc.O_NONBLOCK) != 0)
            {
                throw new IOException($"fcntl O_NONBLOCK {name}: {new Win32Exception(Marshal.GetLastPInvokeError()).Message}");
            }
            return new TunDevice(name, handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Waits until the kernel routes a packet into this interface and returns its length, or 0 once <paramref name="stop"/> is set.</summary>
    public unsafe int ReadPacket(Span<byte> buffer, CancellationToken stop)
    {
        fixed (byte* pointer = buffer)
        {
            while (!stop.IsCancellationRequested)
            {
                var read = Libc.Read(_handle, pointer, (nuint)buffer.Length);
                if (read >= 0)
                {
                    return (int)read;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EAGAIN)
                {
                    var poll = new Libc.PollFd { Fd = (int)_handle.DangerousGetHandle(), Events = Libc.POLLIN };
                    _ = Libc.Poll(&poll, 1, 100);
                }
                else if (errno != Libc.EINTR)
                {
                    throw new IOException($"read {Name}: {new Win32Exception(errno).Message}");
                }
            }
            return 0;
        }
    }

    /// <summary>Hands one packet to the kernel as received on this interface; false if the interface is down (EIO).</summary>
    public unsafe bool WritePacket(ReadOnlySpan<byte> packet)
    {
        fixed (byte* pointer = packet)
        {
            while (true)
            {
                if (Libc.Write(_handle, pointer, (nuint)packet.Length) >= 0)
                {
                    return true;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EIO)
                {
                    return false;
                }
                if (errno != Libc.EINTR)
                {
                    throw new IOException($"write {Name}: {new Win32Exception(errno).Message}");
                }
            }
        }
    }

    public void Dispose() => _handle.Dispose();
}
