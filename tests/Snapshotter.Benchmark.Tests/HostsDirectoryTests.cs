using Snapshotter.Benchmark.Model;
using Snapshotter.Benchmark.Running;
using Snapshotter.Testing;

namespace Snapshotter.Benchmark.Tests;

public sealed class HostsDirectoryTests
{
    [Theory]
    [InlineData("10.213.5.2:5000/python:esgz", "10.213.5.2:5000")]
    [InlineData("localhost/a:1", "localhost")]
    [InlineData("registry.example.com/team/app:1", "registry.example.com")]
    [InlineData("library/nginx:latest", "docker.io")]
    public void The_registry_host_is_the_references_registry_as_containerd_normalises_it(string reference, string host)
    {
        Assert.Equal(host, HostsDirectory.RegistryHost(reference));
    }

    [Fact]
    public void With_plain_http_each_distinct_registry_gets_an_http_server_in_containerds_layout()
    {
        using var directory = new TempDirectory("bench-hosts");
        var images = new[]
        {
            ImageSpec.Parse("name=a,plain=10.0.0.2:5000/a:plain,lazy=10.0.0.2:5000/a:esgz,url=http://127.0.0.1:1/"),
            ImageSpec.Parse("name=b,plain=127.0.0.1:6000/b:plain,lazy=10.0.0.2:5000/b:esgz,url=http://127.0.0.1:2/"),
        };

        HostsDirectory.Write(directory.Path, images, plainHttp: true);

        Assert.Equal(["10.0.0.2:5000", "127.0.0.1:6000"], Directory.GetDirectories(directory.Path).Select(Path.GetFileName).Order());
        var toml = File.ReadAllText(directory.Combine("10.0.0.2:5000", "hosts.toml"));
        Assert.Contains("server = \"http://10.0.0.2:5000\"", toml);
        Assert.Contains("[host.\"http://10.0.0.2:5000\"]", toml);
        Assert.Contains("capabilities = [\"pull\", \"resolve\"]", toml);
    }

    [Fact]
    public void Without_plain_http_the_directory_stays_empty_so_registries_are_https()
    {
        using var directory = new TempDirectory("bench-hosts");
        HostsDirectory.Write(directory.Path, [ImageSpec.Parse("name=a,plain=h:1/a:1,lazy=h:1/a:2,url=http://127.0.0.1:1/")], plainHttp: false);
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory.Path));
    }
}
