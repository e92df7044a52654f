using System.Diagnostics;
using System.Text;

namespace Snapshotter.Testing;

/// <summary>The outcome of a finished command.</summary>
public sealed record ProcessResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    public ProcessResult EnsureSuccess() =>
        ExitCode == 0 ? this : throw new InvalidOperationException(
            $"`{Command}` exited with {ExitCode}\nstdout: {Tail(StandardOutput)}\nstderr: {Tail(StandardError)}");

    private static string Tail(string text) => text.Length <= 4000 ? text : "…" + text[^4000..];
}

/// <summary>Runs external commands (ctr, ctr-remote, tar, skopeo…) with captured output and a time limit.</summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName, IEnumerable<string> arguments, TimeSpan? timeout = null,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var args = arguments.ToList();
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        args.ForEach(startInfo.ArgumentList.Add);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key] = value;
        }

        var command = string.Join(' ', [fileName, .. args]);
        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"could not start `{command}`");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{command}` did not finish within {timeout ?? TimeSpan.FromMinutes(5)}");
        }
        return new ProcessResult(command, process.ExitCode, await stdout, await stderr);
    }

    public static Task<ProcessResult> RunAsync(string fileName, params string[] arguments) =>
        RunAsync(fileName, arguments, timeout: null);

    /// <summary>Runs a command and returns its standard output, throwing with both streams on failure.</summary>
    public static async Task<string> OutputOfAsync(string fileName, params string[] arguments) =>
        (await RunAsync(fileName, arguments, timeout: null)).EnsureSuccess().StandardOutput;
}

/// <summary>A long-running child process (a daemon under test) with its output kept for failure messages.</summary>
public sealed class BackgroundProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public BackgroundProcess(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key] = value;
        }
        _process = new Process { StartInfo = startInfo };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Name = Path.GetFileName(fileName);
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Polls <paramref name="ready"/> until it is true, failing with the process output if the process dies or time runs out.</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> ready, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} before {what}:\n{Output}");
            }
            if (await ready())
            {
                return;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"{Name} not {what} after {timeout}:\n{Output}");
    }

    /// <summary>SIGKILL, as a crash would; only this process, by PID.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM and a grace period, then SIGKILL.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }
        _ = await ProcessRunner.RunAsync("kill", ["-TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        using var limit = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            if (_output.Length < 1 << 20)
            {
                _output.AppendLine(line);
            }
        }
    }
}
