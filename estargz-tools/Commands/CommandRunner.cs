using System.Text.Json;
using Snapshotter.Estargz;
using Snapshotter.Oci;
using Snapshotter.Registry;
using Spectre.Console;

namespace Estargz.Tools.Commands;

/// <summary>Runs a command body and turns the errors a user can cause into one clear line and an exit code.</summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is EstargzFormatException or DigestMismatchException or FormatException or JsonException or InvalidDataException
            or PlatformNotFoundException or RegistryException { IsNotFound: true })
        {
            Error(e.Message);
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or RegistryException)
        {
            Error(e.Message);
            return ExitCodes.IoError;
        }
    }

    public static void Error(string message) =>
        Console.Error.WriteLine($"estargz: error: {message}");

    /// <summary>Progress and tables go to stderr so that stdout stays machine-readable.</summary>
    public static IAnsiConsole Stderr { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
    });
}
