using System.Diagnostics;

namespace Snapshotter.Benchmark.Running;

/// <summary>The outcome of a finished command.</summary>
internal sealed record CommandOutcome(string CommandLine, int ExitCode, string StandardOutput, string StandardError)
{
    public CommandOutcome ThrowIfFailed() => ExitCode == 0 ? this
        : throw new CommandFailedException($"`{CommandLine}` exited with {ExitCode}: {Tail(StandardError.Length > 0 ? StandardError : StandardOutput)}");

    private static string Tail(string text) => text.Length <= 2000 ? text.Trim() : "…" + text[^2000..].Trim();
}

internal sealed class CommandFailedException(string message) : Exception(message);

/// <summary>Runs a command (argv, no shell) to completion with its output captured and a time limit.</summary>
internal static class ExternalCommand
{
    public static async Task<CommandOutcome> RunAsync(IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in argv.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }
        var commandLine = string.Join(' ', argv);
        using var process = Process.Start(startInfo) ?? throw new CommandFailedException($"could not start `{commandLine}`");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"`{commandLine}` did not finish within {timeout.TotalSeconds:F0} s");
        }
        return new CommandOutcome(commandLine, process.ExitCode, await stdout, await stderr);
    }

    public static async Task<string> OutputOfAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken) =>
        (await RunAsync(argv, TimeSpan.FromMinutes(1), cancellationToken)).ThrowIfFailed().StandardOutput;
}
