using System.Text.Json;
using Snapshotter.Containerd;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Cli.Commands;

/// <summary>Runs a command body and turns what can go wrong into one clear line on stderr and an exit code.</summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (UsageException e)
        {
            Error(e.Message);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException)
        {
            Error("canceled");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is RegistryException or ContainerdException or PlatformNotFoundException or DigestMismatchException
            or FormatException or JsonException or InvalidDataException or HttpRequestException or IOException or TimeoutException)
        {
            Error(e.Message);
            return ExitCodes.Failed;
        }
    }

    public static void Error(string message) =>
        Console.Error.WriteLine($"stargzctl: error: {message}");
}

/// <summary>An argument a parser accepted but the command cannot use (an invalid image reference, a bad platform).</summary>
internal sealed class UsageException(string message) : Exception(message);
