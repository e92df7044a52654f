using Snapshotter.Testing;

namespace Estargz.Tools.Tests;

/// <summary>Runs the real `estargz` executable (built beside the tests) as a user would.</summary>
internal static class EstargzCli
{
    private static readonly string Assembly = Path.Combine(AppContext.BaseDirectory, "estargz.dll");

    public static Task<ProcessResult> RunAsync(params string[] args) => RunWithAsync(null, args);

    /// <summary>With extra environment variables (e.g. DOCKER_CONFIG for registry credentials).</summary>
    public static Task<ProcessResult> RunWithAsync(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        ProcessRunner.RunAsync("dotnet", [Assembly, .. args], TimeSpan.FromMinutes(5), environment: environment);

    public static async Task<string> OutputOfAsync(params string[] args) =>
        (await RunAsync(args)).EnsureSuccess().StandardOutput;
}
