using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Snapshotter.Registry.Auth;
using Snapshotter.Registry.Blobs;
using Snapshotter.Registry.Hosts;
using Snapshotter.Testing;

namespace Snapshotter.Registry.Tests;

/// <summary>The parsers on their own: challenges, Content-Range, multipart bodies, range assembly, hosts.toml, Docker config.</summary>
public sealed class ParsingTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void Bearer_challenge_parameters_with_quotes_commas_and_escapes()
    {
        var parameters = AuthChallenge.ParseParameters("realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\", scope=\"repository:a/b:pull,push\",error=insufficient_scope,x=\"q\\\"d\"");
        Assert.Equal("https://auth.docker.io/token", parameters["realm"]);
        Assert.Equal("registry.docker.io", parameters["service"]);
        Assert.Equal("repository:a/b:pull,push", parameters["scope"]);
        Assert.Equal("insufficient_scope", parameters["error"]);
        Assert.Equal("q\"d", parameters["x"]);
    }

    [Fact]
    public void Bearer_is_preferred_over_basic_and_unknown_schemes_are_ignored()
    {
        using var response = new HttpResponseMessage();
        response.Headers.WwwAuthenticate.ParseAdd("Negotiate");
        response.Headers.WwwAuthenticate.ParseAdd("Basic realm=\"r\"");
        response.Headers.WwwAuthenticate.ParseAdd("Bearer realm=\"https://t\",service=\"s\"");
        var challenge = AuthChallenge.From(response.Headers.WwwAuthenticate)!;
        Assert.Equal(AuthScheme.Bearer, challenge.Scheme);
        Assert.Equal("https://t", challenge.Realm);
        using var none = new HttpResponseMessage();
        none.Headers.WwwAuthenticate.ParseAdd("Negotiate");
        Assert.Null(AuthChallenge.From(none.Headers.WwwAuthenticate));
    }

    [Theory]
    [InlineData("bytes 0-9/100", 0, 9, 100L)]
    [InlineData("bytes 5-5/*", 5, 5, null)]
    public void Content_range_parses(string text, long first, long last, long? total) =>
        Assert.Equal(new ContentRange(first, last, total), ContentRange.Parse(text));

    [Theory]
    [InlineData("bytes 9-0/100")]
    [InlineData("bytes 0-99/100x")]
    [InlineData("bytes 0-100/100")]
    [InlineData("items 0-1/2")]
    [InlineData("bytes -1-2/3")]
    [InlineData(null)]
    public void Content_range_rejects_malformed(string? text) =>
        Assert.Throws<InvalidDataException>(() => ContentRange.Parse(text));

    /// <summary>Hands out one byte per read, to cross every buffer boundary.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(1, buffer.Length)], cancellationToken);
    }

    private static async Task<List<(long Position, byte[] Data)>> ParseMultipartAsync(string body, string boundary)
    {
        var parts = new List<(long, byte[])>();
        using var reader = new BodyReader(new TrickleStream(Encoding.Latin1.GetBytes(body)), () => { }, Token);
        await MultipartByteRanges.ReadAsync(reader, boundary, _ => { }, (position, data) => parts.Add((position, data.ToArray())));
        return parts;
    }

    [Fact]
    public async Task Multipart_byteranges_with_preamble_lf_lines_and_quoted_boundaries_parse()
    {
        var body = "preamble\r\n--xyz\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 2-4/10\r\n\r\nABC\r\n--xyz\nContent-Range: bytes 7-8/10\n\nDE\r\n--xyz--\r\nepilogue";
        var parts = await ParseMultipartAsync(body, "xyz");
        Assert.Equal("ABC", Encoding.ASCII.GetString(parts.Where(p => p.Position is >= 2 and <= 4).SelectMany(p => p.Data).ToArray()));
        Assert.Equal("DE", Encoding.ASCII.GetString(parts.Where(p => p.Position is >= 7 and <= 8).SelectMany(p => p.Data).ToArray()));
        Assert.Equal(5, parts.Sum(p => p.Data.Length));
    }

    [Theory]
    [InlineData("--b\r\nContent-Range: bytes 0-9/10\r\n\r\nshort", typeof(EndOfStreamException))]
    [InlineData("no delimiter at all", typeof(EndOfStreamException))]
    [InlineData("--b\r\n\r\nno range\r\n--b--\r\n", typeof(InvalidDataException))]
    [InlineData("--b\r\nContent-Range: bytes 0-1/10\r\n\r\nab\r\n--other\r\n", typeof(InvalidDataException))]
    public async Task Multipart_errors_are_distinct(string body, Type expected)
    {
        var error = await Record.ExceptionAsync(() => ParseMultipartAsync(body, "b"));
        Assert.IsType(expected, error);
    }

    [Fact]
    public async Task Multipart_header_lines_are_bounded()
    {
        var error = await Record.ExceptionAsync(() => ParseMultipartAsync("--b\r\nX: " + new string('a', 9000) + "\r\n\r\n", "b"));
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains("longer than", error.Message);
    }

    [Fact]
    public void Range_assembler_fills_overlaps_out_of_order_and_reports_what_is_missing()
    {
        var blob = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        var a = new byte[10];
        var b = new byte[10];
        var c = new byte[5];
        var assembler = new RangeAssembler([new BlobRange(50, a), new BlobRange(55, b), new BlobRange(0, c)]);
        Assert.Equal([(0L, 5L), (50L, 65L)], assembler.Pending());

        assembler.Accept(52, blob.AsSpan(52, 10));     // starts after a's first missing byte: ignored by a; b gets 55..61
        Assert.Equal([(0L, 5L), (50L, 60L), (62L, 65L)], assembler.Pending());
        assembler.Accept(48, blob.AsSpan(48, 6));      // a gets 50..53
        Assert.Equal([(0L, 5L), (54L, 60L), (62L, 65L)], assembler.Pending());
        assembler.Accept(0, blob.AsSpan(0, 100));      // everything
        Assert.True(assembler.IsComplete);
        Assert.Equal(blob[50..60], a);
        Assert.Equal(blob[55..65], b);
        Assert.Equal(blob[0..5], c);
        Assert.Equal(0, assembler.Missing);
    }

    [Fact]
    public void Hosts_toml_mirrors_capabilities_tls_headers_and_paths()
    {
        var endpoints = HostsConfiguration.Parse("docker.io", """
            server = "https://registry-1.docker.io"
            capabilities = ["pull", "resolve", "push"]

            [host."https://mirror.example.com"]
              capabilities = ["pull", "resolve"]
              ca = ["ca1.pem", "/abs/ca2.pem"]
              client = [["client.cert", "client.key"], ["both.pem", ""]]
              skip_verify = false
              [host."https://mirror.example.com".header]
                x-token = "t"
                x-list = ["a", "b"]

            [host."http://plain.example.com:5000/custom/api"]
              override_path = true
              capabilities = ["pull"]

            [host."cache.example.com/prefix"]
            """, "/etc/certs.d/docker.io");

        Assert.Equal(4, endpoints.Count);
        var mirror = endpoints[0];
        Assert.Equal(new Uri("https://mirror.example.com/v2"), mirror.BaseUri);
        Assert.True(mirror.IsMirror);
        Assert.True(mirror.Has(HostCapabilities.Pull | HostCapabilities.Resolve));
        Assert.False(mirror.Has(HostCapabilities.Push));
        Assert.Equal(["/etc/certs.d/docker.io/ca1.pem", "/abs/ca2.pem"], mirror.CaFiles);
        Assert.Equal([new ClientCertificateFiles("/etc/certs.d/docker.io/client.cert", "/etc/certs.d/docker.io/client.key"), new ClientCertificateFiles("/etc/certs.d/docker.io/both.pem", null)], mirror.ClientCertificates);
        Assert.Equal(["a", "b"], mirror.Headers["X-List"]);
        Assert.Equal(new Uri("https://mirror.example.com/v2/library/busybox/manifests/latest?ns=docker.io"), mirror.Url("library/busybox", "manifests", "latest"));

        Assert.Equal(new Uri("http://plain.example.com:5000/custom/api"), endpoints[1].BaseUri);
        Assert.Equal(HostCapabilities.Pull, endpoints[1].Capabilities);
        Assert.Equal(new Uri("https://cache.example.com/prefix/v2"), endpoints[2].BaseUri);
        Assert.Equal(HostCapabilities.All, endpoints[2].Capabilities);

        var origin = endpoints[3];
        Assert.False(origin.IsMirror);
        Assert.Equal(new Uri("https://registry-1.docker.io/v2/library/busybox/blobs/x"), origin.Url("library/busybox", "blobs", "x"));
    }

    [Fact]
    public void Hosts_defaults_map_docker_io_and_let_loopback_fall_back_to_http()
    {
        var docker = new HostsConfiguration(null).Endpoints("docker.io");
        Assert.Equal(new Uri("https://registry-1.docker.io/v2"), Assert.Single(docker).BaseUri);
        Assert.False(docker[0].HttpFallback);
        Assert.True(new HostsConfiguration(null).Endpoints("localhost:5000")[0].HttpFallback);
        Assert.True(new HostsConfiguration(null).Endpoints("[::1]:5000")[0].HttpFallback);
        Assert.False(new HostsConfiguration(null).Endpoints("ghcr.io")[0].HttpFallback);
        Assert.Equal("http", new HostsConfiguration(null).Endpoints("127.0.0.1:5000")[0].AsPlainHttp().BaseUri.Scheme);
    }

    [Fact]
    public async Task Hosts_default_directory_and_reload_on_change()
    {
        using var dir = new TempDirectory("certs.d");
        Directory.CreateDirectory(dir.Combine("_default"));
        await File.WriteAllTextAsync(dir.Combine("_default", "hosts.toml"), "[host.\"https://mirror-a\"]\n", Token);
        var hosts = new HostsConfiguration(dir.Path);
        Assert.Equal("mirror-a", hosts.Endpoints("quay.io")[0].BaseUri.Host);
        await File.WriteAllTextAsync(dir.Combine("_default", "hosts.toml"), "[host.\"https://mirror-b\"]\n", Token);
        File.SetLastWriteTimeUtc(dir.Combine("_default", "hosts.toml"), DateTime.UtcNow.AddMinutes(1));
        Assert.Equal("mirror-b", hosts.Endpoints("quay.io")[0].BaseUri.Host);
        Assert.Equal(new Uri("https://quay.io/v2"), hosts.Endpoints("quay.io")[1].BaseUri);
    }

    [Theory]
    [InlineData("server = ", "invalid TOML")]
    [InlineData("server = 5", "'server' must be a string")]
    [InlineData("capabilities = [\"fly\"]", "unknown capability 'fly'")]
    [InlineData("skip_verify = \"yes\"", "'skip_verify' must be true or false")]
    [InlineData("[host.\"ftp://x\"]", "not an http(s) URL")]
    [InlineData("client = 3", "'client' must be a string or an array")]
    public void Bad_hosts_toml_names_the_file_and_the_problem(string toml, string expected)
    {
        var error = Assert.Throws<FormatException>(() => HostsConfiguration.Parse("example.com", toml, "/d", "/d/hosts.toml"));
        Assert.Contains(expected, error.Message);
        Assert.Contains("/d/hosts.toml", error.Message);
    }

    [Fact]
    public async Task Docker_config_auths_identity_tokens_docker_hub_key_and_helpers()
    {
        using var dir = new TempDirectory("docker-config");
        var helper = dir.Combine("docker-credential-store");
        await File.WriteAllTextAsync(helper, """
            #!/bin/sh
            read server
            case "$server" in
              store.example.com) echo '{"Username":"storeuser","Secret":"storepass"}' ;;
              *) echo "credentials not found in native keychain" >&2; exit 1 ;;
            esac
            """, Token);
        File.SetUnixFileMode(helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = dir.Combine("config.json");
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("hubuser:hubpass:with:colons"));
        await File.WriteAllTextAsync(path, $$"""
            {
              "auths": {
                "https://index.docker.io/v1/": {"auth": "{{auth}}"},
                "https://ghcr.io": {"username": "gh", "password": "ghp"},
                "id.example.com": {"auth": "{{Convert.ToBase64String("u:"u8)}}", "identitytoken": "refresh"}
              },
              "credsStore": "store"
            }
            """, Token);
        var credentials = new DockerConfigCredentials(path, dir.Path, NullLogger.Instance);

        Assert.Equal(new RegistryCredential("hubuser", "hubpass:with:colons"), await credentials.GetAsync("registry-1.docker.io", Token));
        Assert.Equal(new RegistryCredential("gh", "ghp"), await credentials.GetAsync("ghcr.io", Token));
        Assert.Equal(new RegistryCredential("u", "refresh", IsIdentityToken: true), await credentials.GetAsync("id.example.com", Token));
        Assert.Equal(new RegistryCredential("storeuser", "storepass"), await credentials.GetAsync("store.example.com", Token));
        Assert.Null(await credentials.GetAsync("nowhere.example.com", Token));
        Assert.DoesNotContain("ghp", new RegistryCredential("gh", "ghp").ToString());
    }

    [Fact]
    public async Task Docker_config_errors_name_the_file()
    {
        using var dir = new TempDirectory("docker-config");
        var path = dir.Combine("config.json");
        await File.WriteAllTextAsync(path, "{\"auths\": {\"x\": {\"auth\": \"%%%\"}}}", Token);
        var credentials = new DockerConfigCredentials(path, dir.Path, NullLogger.Instance);
        var error = await Assert.ThrowsAsync<RegistryException>(() => credentials.GetAsync("x", Token).AsTask());
        Assert.Contains(path, error.Message);
        await File.WriteAllTextAsync(path, "{ not json", Token);
        error = await Assert.ThrowsAsync<RegistryException>(() => credentials.GetAsync("x", Token).AsTask());
        Assert.Contains("invalid Docker config", error.Message);
        await File.WriteAllTextAsync(path, "{\"credHelpers\": {\"x\": \"missing\"}}", Token);
        error = await Assert.ThrowsAsync<RegistryException>(() => credentials.GetAsync("x", Token).AsTask());
        Assert.Contains("docker-credential-missing", error.Message);
        File.Delete(path);
        Assert.Null(await credentials.GetAsync("x", Token));
    }

    [Fact]
    public void Range_header_keeps_all_ranges_in_order()
    {
        var header = new RangeHeaderValue();
        header.Ranges.Add(new RangeItemHeaderValue(0, 9));
        header.Ranges.Add(new RangeItemHeaderValue(20, 29));
        Assert.Equal("bytes=0-9, 20-29", header.ToString());
    }
}
