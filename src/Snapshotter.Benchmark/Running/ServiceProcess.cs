using System.Diagnostics;
using Snapshotter.Benchmark.Interop;

namespace Snapshotter.Benchmark.Running;

/// <summary>
/// A daemon the benchmark starts (containerd, our snapshotter) with its output appended to a log
/// file; stopped by its PID with SIGTERM, then SIGKILL after a grace period.
/// </summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ServiceProcess(Process process, StreamWriter log, string name)
    {
        _process = process;
        _log = log;
        Name = name;
    }

    public string Name { get; }

    public string LogPath => ((FileStream)_log.BaseStream).Name;

    public bool HasExited => _process.HasExited;

    public static ServiceProcess Start(IReadOnlyList<string> argv, string logPath)
    {
        var startInfo = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in argv.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var process = new Process { StartInfo = startInfo };
        var service = new ServiceProcess(process, log, Path.GetFileName(argv[0]));
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Polls <paramref name="ready"/> until true; fails with the log's tail if the process exits or time runs out.</summary>
    public async Task WaitUntilAsync(Func<CancellationToken, Task<bool>> ready, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (_process.HasExited)
            {
                throw new CommandFailedException($"{Name} exited with {_process.ExitCode} while starting; log {LogPath}:\n{Tail()}");
            }
            if (await ready(cancellationToken))
            {
                return;
            }
            await Task.Delay(50, cancellationToken);
        }
        throw new TimeoutException($"{Name} not ready after {timeout.TotalSeconds:F0} s; log {LogPath}:\n{Tail()}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = Libc.Kill(_process.Id, Libc.SIGTERM);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: false);
                await _process.WaitForExitAsync();
            }
        }
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    private string Tail()
    {
        lock (_log)
        {
            _log.Flush();
        }
        var lines = File.ReadAllLines(LogPath);
        return string.Join('\n', lines.TakeLast(20));
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            if (_log.BaseStream.CanWrite)
            {
                _log.WriteLine(line);
            }
        }
    }
}
