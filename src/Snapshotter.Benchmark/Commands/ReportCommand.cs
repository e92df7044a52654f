using System.CommandLine;
using Snapshotter.Benchmark.Model;
using Snapshotter.Benchmark.Reporting;

namespace Snapshotter.Benchmark.Commands;

/// <summary><c>stargz-bench report A.json [B.json…]</c>: the table and chart again, or several results side by side to compare.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("results") { Description = "readiness.json files written by `stargz-bench run`", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "directory for NAME.md, .png and .svg", DefaultValueFactory = _ => "artifacts/bench" };
        var name = new Option<string>("--name") { Description = "base name of the files written", DefaultValueFactory = _ => "comparison" };
        var command = new Command("report", "write the Markdown table and chart of one or more results (several: compared side by side)")
        {
            inputs, output, name,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var results = new List<BenchmarkResult>();
            foreach (var path in result.GetRequiredValue(inputs))
            {
                results.Add(await ResultsJson.ReadAsync(path, cancellationToken));
            }
            var written = await ReportFiles.WriteAsync(results, result.GetRequiredValue(output), result.GetRequiredValue(name), cancellationToken);
            Console.Write(await File.ReadAllTextAsync(written.Markdown, cancellationToken));
            Console.Error.WriteLine($"stargz-bench: wrote {written.Markdown}, {written.Png}, {written.Svg}");
            return ExitCodes.Success;
        });
        return command;
    }
}
