using Microsoft.Extensions.Logging;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse.Handover;

/// <summary>
/// The holder process (<c>stargz-snapshotter fd-holder --socket PATH</c>) for hosts without a
/// systemd descriptor store: it keeps the descriptors a daemon stores (<see cref="FdHolderProtocol"/>)
/// so that they outlive the daemon, even a SIGKILL, and hands them to the next one. It drops a
/// descriptor whose connection ended (POLLERR/POLLHUP) and exits once it holds nothing and no
/// daemon is connected (or nobody connected within the idle timeout).
/// </summary>
public sealed class FdHolder : IDisposable
{
    private readonly string _socketPath;
    private readonly TimeSpan _idleTimeout;
    private readonly ILogger _logger;
    private readonly FileDescriptor _wake;
    private readonly Dictionary<string, List<int>> _held = new(StringComparer.Ordinal);
    private readonly List<FileDescriptor> _clients = [];
    private bool _served;

    public FdHolder(string socketPath, TimeSpan idleTimeout, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        _socketPath = Path.GetFullPath(socketPath);
        _idleTimeout = idleTimeout;
        _logger = logger;
        var wake = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        _wake = wake >= 0 ? new FileDescriptor(wake, ownsHandle: true) : throw FuseDevice.Failure("eventfd", Libc.LastErrno);
    }

    /// <summary>Descriptors held now, over all names.</summary>
    public int HeldCount => _held.Values.Sum(l => l.Count);

    /// <summary>Leaves the session and process group of the process that started it, so that signals to those do not reach it.</summary>
    public static void DetachFromSession() => _ = Libc.SetSid();

    /// <summary>Serves on the socket until there is nothing left to hold or <see cref="Stop"/> is called; closes everything it holds on the way out.</summary>
    public unsafe void Run()
    {
        using var listener = UnixSockets.Open(Libc.SOCK_SEQPACKET);
        ClaimSocketPath();
        UnixSockets.BindAndListen(listener, _socketPath, 16);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        HandoverLog.HolderListening(_logger, _socketPath, Environment.ProcessId);
        var started = Environment.TickCount64;
        try
        {
            while (true)
            {
                var idle = _clients.Count == 0 && _held.Count == 0;
                var waited = Environment.TickCount64 - started;
                if (idle && (_served || waited >= (long)_idleTimeout.TotalMilliseconds))
                {
                    HandoverLog.HolderExiting(_logger);
                    return;
                }
                var clients = _clients.ToArray();
                var held = _held.SelectMany(h => h.Value.Select(fd => (Name: h.Key, Fd: fd))).ToArray();
                var fds = new Libc.PollFd[2 + clients.Length + held.Length];
                fds[0] = new Libc.PollFd { Fd = _wake.Fd, Events = Libc.POLLIN };
                fds[1] = new Libc.PollFd { Fd = listener.Fd, Events = Libc.POLLIN };
                for (var i = 0; i < clients.Length; i++)
                {
                    fds[2 + i] = new Libc.PollFd { Fd = clients[i].Fd, Events = Libc.POLLIN };
                }
                for (var i = 0; i < held.Length; i++)
                {
                    // No events asked: only POLLERR/POLLHUP (a FUSE connection that ended) wake us.
                    fds[2 + clients.Length + i] = new Libc.PollFd { Fd = held[i].Fd };
                }
                var timeout = idle && !_served ? (int)Math.Max(0, (long)_idleTimeout.TotalMilliseconds - waited) : -1;
                int ready;
                fixed (Libc.PollFd* p = fds)
                {
                    ready = Libc.Poll(p, (nuint)fds.Length, timeout);
                }
                if (ready < 0)
                {
                    var errno = Libc.LastErrno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }
                    throw FuseDevice.Failure("poll", errno);
                }
                if (fds[0].REvents != 0)
                {
                    return;
                }
                if ((fds[1].REvents & Libc.POLLIN) != 0)
                {
                    Accept(listener);
                }
                for (var i = 0; i < clients.Length; i++)
                {
                    if (fds[2 + i].REvents != 0)
                    {
                        Serve(clients[i]);
                    }
                }
                for (var i = 0; i < held.Length; i++)
                {
                    if (fds[2 + clients.Length + i].REvents != 0)
                    {
                        Drop(held[i].Name, held[i].Fd);
                    }
                }
            }
        }
        finally
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }
            _clients.Clear();
            foreach (var name in _held.Keys.ToList())
            {
                Close(name);
            }
            File.Delete(_socketPath);
        }
    }

    /// <summary>Makes <see cref="Run"/> return (tests; the holder process simply exits).</summary>
    public unsafe void Stop()
    {
        ulong one = 1;
        _ = Libc.Write(_wake, (byte*)&one, sizeof(ulong));
    }

    public void Dispose() => _wake.Dispose();

    /// <summary>Removes a socket file nobody listens on; refuses to start beside a live holder.</summary>
    private void ClaimSocketPath()
    {
        if (!File.Exists(_socketPath))
        {
            return;
        }
        using var probe = UnixSockets.Open(Libc.SOCK_SEQPACKET);
        if (UnixSockets.Connect(probe, _socketPath) == 0)
        {
            throw new IOException($"another descriptor holder already listens on {_socketPath}");
        }
        File.Delete(_socketPath);
    }

    private unsafe void Accept(FileDescriptor listener)
    {
        var fd = Libc.Accept4(listener.Fd, null, null, Libc.SOCK_CLOEXEC);
        if (fd < 0)
        {
            return; // the client went away meanwhile
        }
        _clients.Add(new FileDescriptor(fd, ownsHandle: true));
        _served = true;
    }

    private void Serve(FileDescriptor client)
    {
        var descriptors = new List<int>();
        try
        {
            var message = FdHolderProtocol.Receive(client, descriptors);
            if (message is null)
            {
                Disconnect(client);
                return;
            }
            Answer(client, message, descriptors);
        }
        catch (IOException e)
        {
            HandoverLog.HolderClientFailed(_logger, e);
            CloseAll(descriptors);
            Disconnect(client);
        }
    }

    private void Answer(FileDescriptor client, string message, List<int> descriptors)
    {
        var (verb, name) = FdHolderProtocol.Parse(message);
        switch (verb)
        {
            case FdHolderProtocol.StoreCommand when descriptors.Count > 0 && IsName(name):
                Close(name);
                _held[name] = [.. descriptors];
                descriptors.Clear();
                HandoverLog.HolderStored(_logger, name, _held[name].Count);
                FdHolderProtocol.Send(client, FdHolderProtocol.Ok);
                break;
            case FdHolderProtocol.RemoveCommand when IsName(name):
                CloseAll(descriptors);
                if (Close(name))
                {
                    HandoverLog.HolderRemoved(_logger, name);
                }
                FdHolderProtocol.Send(client, FdHolderProtocol.Ok);
                break;
            case FdHolderProtocol.ListCommand:
                CloseAll(descriptors);
                foreach (var (held, fds) in _held)
                {
                    FdHolderProtocol.Send(client, $"{FdHolderProtocol.Descriptors} {held}", fds);
                }
                FdHolderProtocol.Send(client, FdHolderProtocol.End);
                break;
            default:
                CloseAll(descriptors);
                FdHolderProtocol.Send(client, $"{FdHolderProtocol.Error} cannot handle '{message}'");
                break;
        }
    }

    private static bool IsName(string name)
    {
        try
        {
            FdStoreNames.Checked(name);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private void Disconnect(FileDescriptor client)
    {
        _clients.Remove(client);
        client.Dispose();
    }

    /// <summary>A held descriptor reported an error or hang-up: its FUSE connection ended.</summary>
    private void Drop(string name, int fd)
    {
        if (!_held.TryGetValue(name, out var fds) || !fds.Remove(fd))
        {
            return;
        }
        Libc.Close(fd);
        if (fds.Count == 0)
        {
            _held.Remove(name);
        }
        HandoverLog.HolderDropped(_logger, name, fds.Count);
    }

    private bool Close(string name)
    {
        if (!_held.Remove(name, out var fds))
        {
            return false;
        }
        CloseAll(fds);
        return true;
    }

    private static void CloseAll(List<int> fds)
    {
        foreach (var fd in fds)
        {
            Libc.Close(fd);
        }
        fds.Clear();
    }
}
