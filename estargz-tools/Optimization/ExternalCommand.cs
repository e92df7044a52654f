using System.Diagnostics;

namespace Estargz.Tools.Optimization;

/// <summary>Runs <c>ctr</c> and <c>ctr-remote</c>: captured output, a time limit, a clear error when they fail.</summary>
internal static class ExternalCommand
{
    public static async Task<string> OutputOfAsync(string tool, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var process = Start(tool, arguments, redirectOutput: true);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (!await WaitAsync(process, timeout, cancellationToken))
        {
            throw new IOException($"`{Describe(tool, arguments)}` did not finish within {timeout.TotalSeconds:F0} s");
        }
        if (process.ExitCode != 0)
        {
            var error = (await stderr).Trim();
            throw new IOException($"`{Describe(tool, arguments)}` failed (exit {process.ExitCode}): {(error.Length > 2000 ? error[^2000..] : error)}");
        }
        return await stdout;
    }

    /// <summary>Starts a process whose output is copied to <paramref name="echo"/> (or dropped) as it comes.</summary>
    public static Process StartEchoing(string tool, IReadOnlyList<string> arguments, TextWriter? echo)
    {
        var process = Start(tool, arguments, redirectOutput: true);
        _ = CopyAsync(process.StandardOutput, echo);
        _ = CopyAsync(process.StandardError, echo);
        return process;
    }

    /// <summary>Waits for the exit; false if <paramref name="timeout"/> passed first (the process keeps running).</summary>
    public static async Task<bool> WaitAsync(Process process, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public static string Describe(string tool, IReadOnlyList<string> arguments) => string.Join(' ', [tool, .. arguments]);

    private static Process Start(string tool, IReadOnlyList<string> arguments, bool redirectOutput)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = redirectOutput,
            RedirectStandardError = redirectOutput,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new IOException($"could not start {tool}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"could not run {tool} ({e.Message}); is it installed and on PATH?", e);
        }
        process.StandardInput.Close();
        return process;
    }

    private static async Task CopyAsync(StreamReader reader, TextWriter? echo)
    {
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            echo?.WriteLine(line);
        }
    }
}
