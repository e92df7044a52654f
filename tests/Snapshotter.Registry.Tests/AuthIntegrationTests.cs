using System.Net;
using System.Text;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Registry.Tests;

/// <summary>Basic (htpasswd) and token auth against a real docker-registry, credentials from a Docker config file.</summary>
public sealed class AuthIntegrationTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static async Task<string> WriteDockerConfigAsync(TempDirectory dir, string json)
    {
        var path = dir.Combine("config.json");
        await File.WriteAllTextAsync(path, json, Token);
        return path;
    }

    [Fact]
    public async Task Basic_auth_uses_the_docker_config_and_rereads_it_when_it_changes()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Basic });
        using var dir = new TempDirectory("docker-config");
        var config = await WriteDockerConfigAsync(dir, $$$"""{"auths":{"{{{registry.Host}}}":{"auth":"{{{Base64(registry.Options.Username + ":wrong")}}}"} } }""");
        using var client = new RegistryClient(new RegistryClientOptions { DockerConfigPath = config });
        var reference = ImageReference.Parse($"{registry.Host}/private:v1");
        var image = TestImage.Create(10, null, 1000);

        var error = await Assert.ThrowsAsync<RegistryException>(() => image.PushAsync(client, reference, cancellationToken: Token));
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains(registry.Host, error.Message);

        // Fix the password in the file (the size changes, so does the write time); no new client needed.
        await WriteDockerConfigAsync(dir, $$$"""{"auths":{"http://{{{registry.Host}}}/v2/":{"username":"{{{registry.Options.Username}}}","password":"{{{registry.Options.Password}}}"} } }""");
        await image.PushAsync(client, reference, cancellationToken: Token);
        var resolved = await client.ResolveAsync(reference, cancellationToken: Token);
        Assert.Equal(image.ManifestDigest, resolved.ManifestDescriptor.Digest);
        var bytes = new byte[100];
        await client.OpenBlob(reference, image.Manifest.Layers[0]).ReadAsync([new BlobRange(10, bytes)], Token);
        Assert.Equal(image.Layers[0].AsSpan(10, 100).ToArray(), bytes);
    }

    [Fact]
    public async Task Basic_auth_without_credentials_fails_clearly()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Basic });
        using var client = new RegistryClient(new RegistryClientOptions { UseDockerConfig = false });
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.ResolveAsync(ImageReference.Parse($"{registry.Host}/x:y"), cancellationToken: Token));
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains("401", error.Message);
        Assert.Contains("x", error.Message);
    }

    [Fact]
    public async Task Token_auth_fetches_a_token_per_scope_and_caches_it()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Token });
        using var dir = new TempDirectory("docker-config");
        var config = await WriteDockerConfigAsync(dir, $$$"""{"auths":{"{{{registry.Host}}}":{"auth":"{{{Base64(registry.Options.Username + ":" + registry.Options.Password)}}}"} } }""");
        using var client = new RegistryClient(new RegistryClientOptions { DockerConfigPath = config });
        var reference = ImageReference.Parse($"{registry.Host}/tokens:v1");
        var image = TestImage.Create(11, null, 20_000);
        await image.PushAsync(client, reference, cancellationToken: Token);
        var pushTokens = registry.TokenServer!.Issued;
        Assert.InRange(pushTokens, 1, 2);
        // The password grant went by POST form (as containerd does with credentials).
        Assert.Contains(registry.TokenServer.Requests, r => r.StartsWith("POST", StringComparison.Ordinal) && r.Contains("grant_type=password", StringComparison.Ordinal));

        var blob = client.OpenBlob(reference, image.Manifest.Layers[0]);
        for (var i = 0; i < 10; i++)
        {
            var buffer = new byte[64];
            await blob.ReadAsync([new BlobRange(i * 100, buffer)], Token);
            Assert.Equal(image.Layers[0].AsSpan(i * 100, 64).ToArray(), buffer);
        }
        await client.ResolveAsync(reference, cancellationToken: Token);
        // One more token for the pull-only scope, then every request reuses it.
        Assert.Equal(pushTokens + 1, registry.TokenServer.Issued);
    }

    [Fact]
    public async Task Token_auth_with_wrong_credentials_names_the_registry()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Token });
        using var client = new RegistryClient(new RegistryClientOptions
        {
            UseDockerConfig = false,
            Credentials = (_, _) => ValueTask.FromResult<RegistryCredential?>(new RegistryCredential("tester", "wrong")),
        });
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.ResolveAsync(ImageReference.Parse($"{registry.Host}/x:y"), cancellationToken: Token));
        Assert.Contains("authentication to " + registry.Host + " failed", error.Message);
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
    }

    [Fact]
    public async Task Identity_token_from_a_credential_helper_uses_the_refresh_token_grant()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Token, RefreshToken = "refresh-me" });
        using var dir = new TempDirectory("docker-config");
        var helper = dir.Combine("docker-credential-fixture");
        await File.WriteAllTextAsync(helper, $$"""
            #!/bin/sh
            read server
            if [ "$1" = get ] && [ "$server" = "{{registry.Host}}" ]; then
              echo '{"ServerURL":"{{registry.Host}}","Username":"<token>","Secret":"refresh-me"}'
            else
              echo "credentials not found in native keychain"; exit 1
            fi
            """, Token);
        File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var config = await WriteDockerConfigAsync(dir, $$$"""{"credHelpers":{"{{{registry.Host}}}":"fixture"}}""");
        using var client = new RegistryClient(new RegistryClientOptions { DockerConfigPath = config, CredentialHelperSearchPath = dir.Path });
        var reference = ImageReference.Parse($"{registry.Host}/helper:v1");
        await TestImage.Create(12, null, 500).PushAsync(client, reference, cancellationToken: Token);
        Assert.All(registry.TokenServer!.Requests, r => Assert.Contains("grant_type=refresh_token", r));
        Assert.NotEmpty(registry.TokenServer.Requests);
    }

    [Fact]
    public async Task Anonymous_tokens_serve_public_pulls()
    {
        await using var registry = await DockerRegistryFixture.StartAsync(new DockerRegistryOptions { Auth = RegistryAuth.Token, AnonymousTokens = true });
        using var client = new RegistryClient(new RegistryClientOptions { UseDockerConfig = false });
        var reference = ImageReference.Parse($"{registry.Host}/public:v1");
        await TestImage.Create(13, null, 500).PushAsync(client, reference, cancellationToken: Token);
        var resolved = await client.ResolveAsync(reference, cancellationToken: Token);
        Assert.Single(resolved.Manifest.Layers);
        Assert.All(registry.TokenServer!.Requests, r => Assert.StartsWith("GET", r));
    }
}
