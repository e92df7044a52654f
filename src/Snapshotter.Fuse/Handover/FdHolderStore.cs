using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse.Handover;

/// <summary>
/// The daemon's side of the <see cref="FdHolder"/>: at start it takes back what a running holder
/// keeps; the first <see cref="Store"/> starts a holder (detached, in its own session) if none
/// listens. The connection stays open while the daemon runs.
/// </summary>
public sealed class FdHolderStore : IFdStore
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly string _socketPath;
    private readonly IReadOnlyList<string> _holderCommand;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, IReadOnlyList<int>> _inherited = new(StringComparer.Ordinal);
    private FileDescriptor? _connection;

    /// <param name="socketPath">The holder's socket.</param>
    /// <param name="holderCommand">The command that runs a holder on <paramref name="socketPath"/> (e.g. <c>stargz-snapshotter fd-holder --socket PATH</c>); its output is appended to <c>PATH</c> with the extension <c>.log</c>.</param>
    /// <param name="logger">Where failures are logged.</param>
    public FdHolderStore(string socketPath, IReadOnlyList<string> holderCommand, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        ArgumentNullException.ThrowIfNull(holderCommand);
        _socketPath = Path.GetFullPath(socketPath);
        _holderCommand = holderCommand;
        _logger = logger;
        if (TryConnect())
        {
            List();
        }
    }

    public IReadOnlyDictionary<string, IReadOnlyList<int>> Inherited => _inherited;

    /// <summary>The process id of the holder this store is connected to, or null.</summary>
    public int? HolderPid
    {
        get
        {
            lock (_gate)
            {
                return _connection is null ? null : UnixSockets.PeerPid(_connection);
            }
        }
    }

    public void Store(string name, IReadOnlyList<int> descriptors)
    {
        ArgumentNullException.ThrowIfNull(descriptors);
        if (descriptors.Count == 0)
        {
            throw new ArgumentException("nothing to store", nameof(descriptors));
        }
        Request($"{FdHolderProtocol.StoreCommand} {FdStoreNames.Checked(name)}", descriptors, startHolder: true);
    }

    /// <summary>
    /// Connects to (or starts) the holder in the background now, so that the first mount does not
    /// wait for a process to start, and passes it one descriptor and takes it back: the first
    /// STORE of each process otherwise runs its code for the first time on a pull's first mount
    /// (~0.1 s there). The holder stays while this store is connected.
    /// </summary>
    public Task StartAheadAsync() => Task.Run(() =>
    {
        try
        {
            lock (_gate)
            {
                if (_connection is null && !TryConnect())
                {
                    StartHolder();
                }
            }
            using var placeholder = File.OpenHandle("/dev/null");
            Request($"{FdHolderProtocol.StoreCommand} {WarmUpName}", [(int)placeholder.DangerousGetHandle()], startHolder: false);
            Request($"{FdHolderProtocol.RemoveCommand} {WarmUpName}", null, startHolder: false);
        }
        catch (IOException e)
        {
            HandoverLog.HolderNotStartedAhead(_logger, _socketPath, e);
        }
    });

    /// <summary>What <see cref="StartAheadAsync"/> stores for a moment; no mount is named like it.</summary>
    internal const string WarmUpName = "warm-up";

    public void Remove(string name) =>
        Request($"{FdHolderProtocol.RemoveCommand} {FdStoreNames.Checked(name)}", null, startHolder: false);

    public void Dispose()
    {
        lock (_gate)
        {
            _connection?.Dispose();
            _connection = null;
        }
    }

    private void List()
    {
        lock (_gate)
        {
            FdHolderProtocol.Send(_connection!, FdHolderProtocol.ListCommand);
            while (true)
            {
                var descriptors = new List<int>();
                var answer = FdHolderProtocol.Receive(_connection!, descriptors) ?? throw new IOException("the descriptor holder hung up while listing");
                var (verb, name) = FdHolderProtocol.Parse(answer);
                if (verb == FdHolderProtocol.End)
                {
                    return;
                }
                if (verb != FdHolderProtocol.Descriptors)
                {
                    throw new IOException($"unexpected answer from the descriptor holder: {answer}");
                }
                _inherited[name] = descriptors;
            }
        }
    }

    /// <summary>One request and its OK; a holder that went away is reconnected (or started) once.</summary>
    private void Request(string request, IReadOnlyList<int>? descriptors, bool startHolder)
    {
        lock (_gate)
        {
            for (var attempt = 0; ; attempt++)
            {
                if (_connection is null && !TryConnect() && !(startHolder && StartHolder()))
                {
                    return; // nothing to remove from: no holder
                }
                try
                {
                    FdHolderProtocol.Send(_connection!, request, descriptors);
                    var unused = new List<int>();
                    var answer = FdHolderProtocol.Receive(_connection!, unused);
                    unused.ForEach(fd => Libc.Close(fd));
                    if (answer != FdHolderProtocol.Ok)
                    {
                        throw new IOException($"the descriptor holder refused '{request}': {answer ?? "hung up"}");
                    }
                    return;
                }
                catch (IOException e) when (attempt == 0)
                {
                    HandoverLog.HolderLost(_logger, _socketPath, e);
                    _connection?.Dispose();
                    _connection = null;
                }
            }
        }
    }

    private bool TryConnect()
    {
        if (!File.Exists(_socketPath))
        {
            return false;
        }
        var socket = UnixSockets.Open(Libc.SOCK_SEQPACKET);
        if (UnixSockets.Connect(socket, _socketPath) != 0)
        {
            socket.Dispose();
            return false;
        }
        _connection = socket;
        return true;
    }

    /// <summary>Starts a holder with its output appended to a log file beside the socket, and waits until it answers.</summary>
    private bool StartHolder()
    {
        var log = Path.ChangeExtension(_socketPath, ".log");
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Not the daemon's stdio: the holder outlives it, and must not keep its pipes open.
        foreach (var argument in (string[])["-c", "exec \"$@\" </dev/null >>\"$0\" 2>&1", log, .. _holderCommand])
        {
            start.ArgumentList.Add(argument);
        }
        using (var process = Process.Start(start) ?? throw new IOException("the descriptor holder did not start"))
        {
            process.StandardInput.Close();
            process.StandardOutput.Close();
            process.StandardError.Close();
            HandoverLog.HolderStarted(_logger, process.Id, _socketPath);
        }
        var deadline = Stopwatch.GetTimestamp() + (long)(StartTimeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (TryConnect())
            {
                return true;
            }
            Thread.Sleep(20);
        }
        throw new IOException($"the descriptor holder did not listen on {_socketPath} within {StartTimeout.TotalSeconds} s (see {log})");
    }
}
