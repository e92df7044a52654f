using System.Globalization;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Registry.Tests;

/// <summary>hosts.toml (certs.d) against real registries: TLS with a test CA, skip_verify, client certificates, mirrors, capabilities, headers.</summary>
public sealed class HostsIntegrationTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static async Task<string> HostsTomlAsync(TempDirectory dir, string registry, string toml)
    {
        var hostDir = Directory.CreateDirectory(dir.Combine("certs.d", registry)).FullName;
        await File.WriteAllTextAsync(Path.Combine(hostDir, "hosts.toml"), toml, Token);
        return dir.Combine("certs.d");
    }

    private static RegistryClient Client(string? hostsDirectory) =>
        new(new RegistryClientOptions { HostsDirectory = hostsDirectory, UseDockerConfig = false, MaxRetries = 1, MinRetryDelay = TimeSpan.FromMilliseconds(5) });

    [Fact]
    public async Task Tls_with_the_ca_from_hosts_toml_works_and_without_it_fails_naming_the_host()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Tls = true });
        using var dir = new TempDirectory("certs");
        File.Copy(registry.CaCertificatePath!, dir.Combine("test-ca.pem"));
        var hosts = await HostsTomlAsync(dir, registry.Host, $"""
            server = "https://{registry.Host}"
            ca = "../../test-ca.pem"
            """);
        using var client = Client(hosts);
        var reference = ImageReference.Parse($"{registry.Host}/secure:v1");
        var image = TestImage.Create(20, null, 10_000);
        await image.PushAsync(client, reference, cancellationToken: Token);
        Assert.Equal(image.ManifestDigest, (await client.ResolveAsync(reference, cancellationToken: Token)).ManifestDescriptor.Digest);

        using var untrusting = Client(null);
        var error = await Assert.ThrowsAsync<RegistryException>(() => untrusting.ResolveAsync(reference, cancellationToken: Token));
        Assert.Contains(registry.Host, error.Message);
        Assert.Contains("SSL", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Skip_verify_accepts_an_unknown_ca()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Tls = true });
        using var dir = new TempDirectory("certs");
        var hosts = await HostsTomlAsync(dir, registry.Host, $"""
            server = "https://{registry.Host}"
            skip_verify = true
            """);
        using var client = Client(hosts);
        await TestImage.Create(21, null, 100).PushAsync(client, ImageReference.Parse($"{registry.Host}/skip:v1"), cancellationToken: Token);
    }

    [Fact]
    public async Task Legacy_certs_d_directory_with_ca_crt_and_a_client_pair_is_honoured()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Tls = true, RequireClientCertificate = true });
        using var dir = new TempDirectory("certs");
        var hostDir = Directory.CreateDirectory(dir.Combine("certs.d", registry.Host)).FullName;
        var reference = ImageReference.Parse($"{registry.Host}/mtls:v1");

        File.Copy(registry.CaCertificatePath!, Path.Combine(hostDir, "ca.crt"));
        using (var withoutClient = Client(dir.Combine("certs.d")))
        {
            var error = await Assert.ThrowsAsync<RegistryException>(() => withoutClient.ResolveAsync(reference, cancellationToken: Token));
            Assert.Contains(registry.Host, error.Message);
        }

        File.Copy(registry.ClientCertificatePath!, Path.Combine(hostDir, "client.cert"));
        File.Copy(registry.ClientKeyPath!, Path.Combine(hostDir, "client.key"));
        using var client = Client(dir.Combine("certs.d"));
        await TestImage.Create(22, null, 100).PushAsync(client, reference, cancellationToken: Token);
    }

    [Fact]
    public async Task Client_certificate_pair_from_hosts_toml()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Tls = true, RequireClientCertificate = true });
        using var dir = new TempDirectory("certs");
        var hosts = await HostsTomlAsync(dir, registry.Host, $"""
            server = "https://{registry.Host}"
            ca = "{registry.CaCertificatePath}"
            client = [["{registry.ClientCertificatePath}", "{registry.ClientKeyPath}"]]
            """);
        using var client = Client(hosts);
        var reference = ImageReference.Parse($"{registry.Host}/mtls:v2");
        var image = TestImage.Create(23, null, 3000);
        await image.PushAsync(client, reference, cancellationToken: Token);
        var buffer = new byte[10];
        await client.OpenBlob(reference, image.Manifest.Layers[0]).ReadAsync([new BlobRange(5, buffer)], Token);
        Assert.Equal(image.Layers[0].AsSpan(5, 10).ToArray(), buffer);
    }

    [Fact]
    public async Task A_mirror_serves_when_the_origin_is_down()
    {
        await using var mirror = await DockerRegistryFixture.StartAsync();
        var origin = "127.0.0.1:" + FreePort.Next().ToString(CultureInfo.InvariantCulture);
        var image = TestImage.Create(24, null, 50_000);
        using (var direct = Client(null))
        {
            await image.PushAsync(direct, ImageReference.Parse($"{mirror.Host}/library/app:v1"), cancellationToken: Token);
        }
        using var dir = new TempDirectory("certs");
        var hosts = await HostsTomlAsync(dir, origin, $"""
            server = "http://{origin}"

            [host."http://{mirror.Host}"]
              capabilities = ["pull", "resolve"]
            """);
        using var client = Client(hosts);
        var reference = ImageReference.Parse($"{origin}/library/app:v1");
        var resolved = await client.ResolveAsync(reference, cancellationToken: Token);
        Assert.Equal(image.ManifestDigest, resolved.ManifestDescriptor.Digest);
        var buffer = new byte[1000];
        await client.OpenBlob(reference, resolved.Manifest.Layers[0]).ReadAsync([new BlobRange(49_000, buffer)], Token);
        Assert.Equal(image.Layers[0].AsSpan(49_000, 1000).ToArray(), buffer);

        // Push goes to the origin only (the mirror lacks the capability), which is down.
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.BlobExistsAsync(reference, image.ManifestDigest, Token));
        Assert.Contains(origin, error.Message);
    }

    [Fact]
    public async Task Failing_mirrors_fall_back_to_the_origin_and_see_headers_ns_and_capabilities()
    {
        await using var origin = await DockerRegistryFixture.StartAsync();
        await using var mirror = await FaultServer.StartAsync(context => FaultServer.ErrorAsync(context, 404, "BLOB_UNKNOWN", "not mirrored"));
        var dead = "127.0.0.1:" + FreePort.Next().ToString(CultureInfo.InvariantCulture);
        using var dir = new TempDirectory("certs");
        var hosts = await HostsTomlAsync(dir, origin.Host, $"""
            server = "http://{origin.Host}"

            [host."http://{dead}"]
              capabilities = ["pull", "resolve"]

            [host."http://{mirror.Host}/prefix"]
              capabilities = ["pull"]
              [host."http://{mirror.Host}/prefix".header]
                x-mirror-token = "abc"
                x-multi = ["1", "2"]
            """);
        using var client = Client(hosts);
        var reference = ImageReference.Parse($"{origin.Host}/app:v1");
        var image = TestImage.Create(25, null, 20_000);
        await image.PushAsync(client, reference, cancellationToken: Token);

        var resolved = await client.ResolveAsync(reference, cancellationToken: Token);
        var buffer = new byte[100];
        await client.OpenBlob(reference, resolved.Manifest.Layers[0]).ReadAsync([new BlobRange(0, buffer)], Token);
        Assert.Equal(image.Layers[0].AsSpan(0, 100).ToArray(), buffer);
        var config = await client.GetBlobAsync(reference, resolved.Manifest.Config, Token);
        Assert.Equal(image.Config, config);

        var seen = mirror.Requests.ToList();
        Assert.NotEmpty(seen);
        Assert.All(seen, r =>
        {
            Assert.StartsWith("/prefix/v2/app/blobs/", r.PathAndQuery);
            Assert.Contains("ns=" + Uri.EscapeDataString(origin.Host), r.PathAndQuery);
            Assert.Equal("abc", r.Headers["x-mirror-token"]);
            Assert.Equal("1,2", r.Headers["x-multi"].Replace(" ", ""));
        });
    }

    [Fact]
    public async Task Tls_server_offering_http2_is_spoken_to_in_http2()
    {
        using var authority = TestCertificateAuthority.Create();
        using var certificate = authority.IssueServer();
        var blob = new byte[10_000];
        new Random(3).NextBytes(blob);
        await using var server = await FaultServer.StartAsync(context => FaultServer.ServeRangesAsync(context, blob), certificate);
        using var dir = new TempDirectory("certs");
        TestCertificateAuthority.WritePem(authority.Certificate, dir.Combine("ca.pem"));
        var hosts = await HostsTomlAsync(dir, server.Host, $"""
            server = "https://{server.Host}"
            ca = "{dir.Combine("ca.pem")}"
            """);
        using var client = Client(hosts);
        var descriptor = Descriptor.For(MediaTypes.OciLayer, blob);
        var buffers = new[] { new byte[100], new byte[100] };
        await client.OpenBlob(ImageReference.Parse($"{server.Host}/h2"), descriptor).ReadAsync([new BlobRange(0, buffers[0]), new BlobRange(5000, buffers[1])], Token);
        Assert.Equal(blob.AsSpan(5000, 100).ToArray(), buffers[1]);
        Assert.All(server.Requests, r => Assert.Equal("HTTP/2", r.Protocol));
    }
}
