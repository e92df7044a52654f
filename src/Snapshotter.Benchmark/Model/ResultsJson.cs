using System.Text.Json;
using System.Text.Json.Serialization;

namespace Snapshotter.Benchmark.Model;

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BenchmarkResult))]
internal sealed partial class ResultsJson : JsonSerializerContext
{
    public static async Task WriteAsync(Model.BenchmarkResult result, string path, CancellationToken cancellationToken)
    {
        // Written beside and renamed, so an interrupted run never leaves a half-written file.
        var temporary = path + ".tmp";
        await using (var stream = File.Create(temporary))
        {
            await JsonSerializer.SerializeAsync(stream, result, Default.BenchmarkResult, cancellationToken);
        }
        File.Move(temporary, path, overwrite: true);
    }

    public static async Task<Model.BenchmarkResult> ReadAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        var result = await JsonSerializer.DeserializeAsync(stream, Default.BenchmarkResult, cancellationToken)
            ?? throw new JsonException($"{path}: empty");
        return result.Schema == Model.BenchmarkResult.CurrentSchema ? result
            : throw new JsonException($"{path}: schema {result.Schema}, this tool reads {Model.BenchmarkResult.CurrentSchema}");
    }
}
