using System.Net.Sockets;

namespace Snapshotter.Testing;

/// <summary>
/// A real containerd (Debian's package) with its own root, state and socket, started as a child
/// process and stopped by PID. Proxy snapshotter plugins can be registered before it starts.
/// </summary>
public sealed class ContainerdFixture : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("containerd");
    private BackgroundProcess? _process;

    private ContainerdFixture()
    {
    }

    public string Root => _directory.Combine("root");

    public string State => _directory.Combine("state");

    public string Address => _directory.Combine("containerd.sock");

    /// <summary>Starts containerd; <paramref name="proxySnapshotters"/> maps a plugin name to its socket.</summary>
    public static async Task<ContainerdFixture> StartAsync(IReadOnlyDictionary<string, string>? proxySnapshotters = null)
    {
        Requirements.Root();
        var containerd = Requirements.Tool("containerd", "containerd");
        Requirements.Tool("ctr", "containerd");
        var fixture = new ContainerdFixture();
        var config = fixture._directory.Combine("config.toml");
        await File.WriteAllTextAsync(config, fixture.ConfigToml(proxySnapshotters ?? new Dictionary<string, string>()));
        fixture._process = new BackgroundProcess(containerd, ["--config", config, "--log-level", "info"]);
        await fixture._process.WaitUntilAsync(fixture.AnswersAsync, TimeSpan.FromSeconds(60), "serving on its socket");
        return fixture;
    }

    public string Log => _process?.Output ?? "";

    /// <summary>Runs <c>ctr --address … args</c> and returns stdout; throws with the output on failure.</summary>
    public async Task<string> CtrAsync(params string[] args) =>
        (await RunAsync("ctr", args)).EnsureSuccess().StandardOutput;

    /// <summary>
    /// Runs <paramref name="command"/> in a new container (<c>ctr run --rm</c>) and returns what it wrote to stdout.
    /// The output comes back through a file on a bind mount, not through ctr's stdout: containerd's stdout copy can
    /// lose a short-lived process's output (containerd#770, concourse#6775), which left a passing run with nothing to read.
    /// The image needs <c>/bin/sh</c>.
    /// </summary>
    public async Task<string> RunContainerAsync(string snapshotter, string image, string name, IReadOnlyList<string> command, string? @namespace = null)
    {
        var outputDirectory = _directory.Combine("output", name);
        Directory.CreateDirectory(outputDirectory);
        var outputFile = Path.Combine(outputDirectory, "stdout");
        File.Delete(outputFile);
        string[] namespaceOptions = @namespace is null ? [] : ["-n", @namespace];
        await CtrAsync([.. namespaceOptions, "run", "--rm", "--snapshotter", snapshotter,
            "--mount", $"type=bind,src={outputDirectory},dst={ContainerOutputDirectory},options=rbind:rw",
            image, name, "/bin/sh", "-c", $"\"$@\" >{ContainerOutputDirectory}/stdout", "sh", .. command]);
        return await File.ReadAllTextAsync(outputFile);
    }

    private const string ContainerOutputDirectory = "/.test-output";

    /// <summary>Runs the Go <c>ctr-remote</c> (Debian's stargz-snapshotter) against this containerd.</summary>
    public async Task<string> CtrRemoteAsync(params string[] args)
    {
        Requirements.Tool("ctr-remote", "stargz-snapshotter");
        return (await RunAsync("ctr-remote", args)).EnsureSuccess().StandardOutput;
    }

    public Task<ProcessResult> RunAsync(string tool, IEnumerable<string> args, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync(tool, ["--address", Address, .. args], timeout ?? TimeSpan.FromMinutes(5));

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
        await Mounts.DetachAllUnderAsync(_directory.Path);
        _directory.Dispose();
    }

    private string ConfigToml(IReadOnlyDictionary<string, string> proxySnapshotters)
    {
        var proxies = string.Concat(proxySnapshotters.Select(p => $"""

            [proxy_plugins.{p.Key}]
              type = "snapshot"
              address = "{p.Value}"
            """));
        // CRI and the TCP debug services are off: tests speak to containerd through ctr only.
        return $"""
            version = 2
            root = "{Root}"
            state = "{State}"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]

            [grpc]
              address = "{Address}"
            {proxies}
            """;
    }

    private async Task<bool> AnswersAsync()
    {
        if (!File.Exists(Address))
        {
            return false;
        }
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(Address));
        }
        catch (SocketException)
        {
            return false;
        }
        return (await RunAsync("ctr", ["version"], TimeSpan.FromSeconds(20))).ExitCode == 0;
    }
}
