using System.CommandLine;
using System.Text.Json;
using Snapshotter.Benchmark.Commands;
using Snapshotter.Benchmark.Running;

var root = new RootCommand("stargz-bench: how soon a container is ready, from a cold node, with a full pull on overlayfs vs a lazy pull through our snapshotter")
{
    RunCommand.Create(),
    ReportCommand.Create(),
    LinkCommand.Create(),
};
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    await parsed.InvokeAsync();
    return ExitCodes.Usage;
}
try
{
    return await parsed.InvokeAsync();
}
catch (FormatException e)
{
    Console.Error.WriteLine($"stargz-bench: {e.Message}");
    return ExitCodes.Usage;
}
catch (Exception e) when (e is IOException or JsonException or CommandFailedException or TimeoutException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"stargz-bench: error: {e.Message}");
    return ExitCodes.Error;
}
