using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Time.Testing;
using Snapshotter.Oci;

namespace Snapshotter.Registry.Tests;

/// <summary>Against the tests' own misbehaving servers: dropped bodies, 5xx, ignored Range, redirects, expiring tokens, bad input.</summary>
public sealed class FaultTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static readonly byte[] Blob = MakeBlob(200_000);

    private static readonly Descriptor BlobDescriptor = Descriptor.For(MediaTypes.OciLayerGzip, Blob);

    private static byte[] MakeBlob(int size)
    {
        var bytes = new byte[size];
        new Random(42).NextBytes(bytes);
        return bytes;
    }

    private static RegistryClient Client(Action<RegistryClientOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new RegistryClientOptions
        {
            UseDockerConfig = false,
            MaxRetries = 3,
            MinRetryDelay = TimeSpan.FromMilliseconds(1),
            MaxRetryDelay = TimeSpan.FromMilliseconds(20),
            RequestTimeout = TimeSpan.FromSeconds(10),
        };
        configure?.Invoke(options);
        return new RegistryClient(options, timeProvider: time);
    }

    private static ImageReference Repo(FaultServer server) => ImageReference.Parse($"{server.Host}/repo");

    private static bool IsBlob(HttpContext context) => context.Request.Path.StartsWithSegments("/v2/repo/blobs");

    /// <summary>Writes <paramref name="count"/> bytes of a 206 (or 200) answer promising more, then drops the connection.</summary>
    /// <summary>A server whose first answer (a range from byte 10 000) stops after 3 000 bytes; later ones are whole.</summary>
    private static Task<FaultServer> CutOnceAfter3000BytesAsync()
    {
        var first = 1;
        return FaultServer.StartAsync(async context =>
        {
            if (Interlocked.Exchange(ref first, 0) == 1)
            {
                await CutShortAsync(context, 10_000, 3_000);
                return;
            }
            await FaultServer.ServeRangesAsync(context, Blob);
        });
    }

    private static async Task CutShortAsync(HttpContext context, long first, int count, bool whole = false)
    {
        var response = context.Response;
        response.StatusCode = whole ? 200 : 206;
        var (rangeFirst, rangeLast) = whole ? (0L, Blob.Length - 1L) : FaultServer.ParseRanges(context.Request.Headers.Range.ToString(), Blob.Length)[0];
        if (!whole)
        {
            response.Headers.ContentRange = $"bytes {rangeFirst}-{rangeLast}/{Blob.Length}";
        }
        response.ContentLength = rangeLast - rangeFirst + 1;
        await response.Body.WriteAsync(Blob.AsMemory((int)first, count));
        await response.Body.FlushAsync();
        await DropAsync(context);
    }

    /// <summary>Drops the connection once the client has had time to read what was sent (a reset discards unread bytes).</summary>
    private static async Task DropAsync(HttpContext context)
    {
        await Task.Delay(300);
        context.Abort();
    }

    [Fact]
    public async Task Server_errors_are_retried_until_the_answer_is_good()
    {
        var manifest = TestImage.Create(30, null, 10).ManifestBytes;
        var failures = 2;
        await using var server = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Method == "GET" && Interlocked.Decrement(ref failures) >= 0)
            {
                await FaultServer.ErrorAsync(context, 503, "UNAVAILABLE", "try later");
                return;
            }
            context.Response.ContentType = MediaTypes.OciManifest;
            context.Response.Headers["Docker-Content-Digest"] = Digest.Compute(manifest).Value;
            await context.Response.Body.WriteAsync(manifest);
        });
        using var client = Client();
        var content = await client.GetManifestAsync(ImageReference.Parse($"{server.Host}/repo:v1"), Token);
        Assert.Equal(manifest, content.Bytes);
        Assert.Equal(3, server.Requests.Count(r => r.Method == "GET"));
    }

    [Fact]
    public async Task Persistent_server_errors_give_up_with_the_status_and_host()
    {
        await using var server = await FaultServer.StartAsync(context => FaultServer.ErrorAsync(context, 500, "BROKEN", "always"));
        using var client = Client(o => o.MaxRetries = 2);
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetBlobAsync(Repo(server), BlobDescriptor, Token));
        Assert.Equal(HttpStatusCode.InternalServerError, error.StatusCode);
        Assert.Contains("BROKEN", error.Message);
        Assert.Contains(server.Host, error.Message);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task A_ranged_body_cut_short_is_resumed_from_the_first_missing_byte()
    {
        await using var server = await CutOnceAfter3000BytesAsync();
        using var client = Client();
        var buffer = new byte[50_000];
        await client.OpenBlob(Repo(server), BlobDescriptor).ReadAsync([new BlobRange(10_000, buffer)], Token);
        Assert.Equal(Blob.AsSpan(10_000, 50_000).ToArray(), buffer);
        var ranges = server.Requests.Select(r => r.Range).ToList();
        Assert.Equal(["bytes=10000-59999", "bytes=13000-59999"], ranges);
    }

    [Fact]
    public async Task Progress_of_a_range_grows_as_its_body_arrives_and_across_a_resumed_request()
    {
        await using var server = await CutOnceAfter3000BytesAsync();
        using var client = Client();
        var buffer = new byte[50_000];
        var reports = new List<int>();
        await client.OpenBlob(Repo(server), BlobDescriptor).ReadAsync([new BlobRange(10_000, buffer)], (range, filled) =>
        {
            Assert.Equal(10_000, range.Offset);
            Assert.True(Blob.AsSpan(10_000, filled).SequenceEqual(buffer.AsSpan(0, filled)), "a reported byte is not in place");
            reports.Add(filled);
        }, Token);
        Assert.Equal(Blob.AsSpan(10_000, 50_000).ToArray(), buffer);
        Assert.Equal(reports.Order(), reports);
        Assert.Contains(3_000, reports); // what the cut request delivered was reported before the rest was asked for
        Assert.Equal(50_000, reports[^1]);
    }

    [Fact]
    public async Task A_blob_that_answered_within_the_check_interval_is_not_probed_again()
    {
        await using var server = await FaultServer.StartAsync(context => FaultServer.ServeRangesAsync(context, Blob));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var client = Client(o => o.BlobCheckInterval = TimeSpan.FromSeconds(60), time);
        var blob = client.OpenBlob(Repo(server), BlobDescriptor);

        await blob.CheckAsync(Token); // never answered: probed
        Assert.Single(server.Requests);
        await blob.ReadAsync([new BlobRange(0, new byte[100])], Token);
        time.Advance(TimeSpan.FromSeconds(59));
        await blob.CheckAsync(Token);
        Assert.Equal(2, server.Requests.Count);
        time.Advance(TimeSpan.FromSeconds(2));
        await blob.CheckAsync(Token); // 61 s since the read, 61 s since the probe's answer
        Assert.Equal(3, server.Requests.Count);

        using var always = Client(o => o.BlobCheckInterval = TimeSpan.Zero, time);
        var probed = always.OpenBlob(Repo(server), BlobDescriptor);
        await probed.CheckAsync(Token);
        await probed.CheckAsync(Token);
        Assert.Equal(5, server.Requests.Count);
    }

    [Fact]
    public async Task A_multipart_body_cut_short_asks_again_only_for_what_is_missing()
    {
        var first = 1;
        await using var server = await FaultServer.StartAsync(async context =>
        {
            if (Interlocked.Exchange(ref first, 0) == 1)
            {
                // The first part whole, then the connection drops inside the second.
                const string boundary = "cut";
                var response = context.Response;
                response.StatusCode = 206;
                response.ContentType = $"multipart/byteranges; boundary={boundary}";
                response.ContentLength = 1_000_000;
                await response.Body.WriteAsync(Encoding.ASCII.GetBytes($"--{boundary}\r\nContent-Range: bytes 0-99/{Blob.Length}\r\n\r\n"));
                await response.Body.WriteAsync(Blob.AsMemory(0, 100));
                await response.Body.WriteAsync(Encoding.ASCII.GetBytes($"\r\n--{boundary}\r\nContent-Range: bytes 1000-1999/{Blob.Length}\r\n\r\n"));
                await response.Body.WriteAsync(Blob.AsMemory(1000, 300));
                await response.Body.FlushAsync();
                await DropAsync(context);
                return;
            }
            await FaultServer.ServeRangesAsync(context, Blob);
        });
        using var client = Client();
        var buffers = new[] { new byte[100], new byte[1000], new byte[500] };
        await client.OpenBlob(Repo(server), BlobDescriptor).ReadAsync(
            [new BlobRange(0, buffers[0]), new BlobRange(1000, buffers[1]), new BlobRange(5000, buffers[2])], Token);
        Assert.Equal(Blob.AsSpan(0, 100).ToArray(), buffers[0]);
        Assert.Equal(Blob.AsSpan(1000, 1000).ToArray(), buffers[1]);
        Assert.Equal(Blob.AsSpan(5000, 500).ToArray(), buffers[2]);
        Assert.Equal(["bytes=0-99, 1000-1999, 5000-5499", "bytes=1300-1999, 5000-5499"], server.Requests.Select(r => r.Range).ToList());
    }

    [Fact]
    public async Task A_whole_blob_download_cut_short_resumes_with_a_range_and_is_verified()
    {
        var cuts = 2;
        await using var server = await FaultServer.StartAsync(async context =>
        {
            var range = context.Request.Headers.Range.ToString();
            if (Interlocked.Decrement(ref cuts) >= 0)
            {
                var start = range.Length == 0 ? 0 : (int)FaultServer.ParseRanges(range, Blob.Length)[0].First;
                if (range.Length == 0)
                {
                    await CutShortAsync(context, 0, 70_000, whole: true);
                }
                else
                {
                    await CutShortAsync(context, start, 50_000);
                }
                return;
            }
            await FaultServer.ServeRangesAsync(context, Blob);
        });
        using var client = Client();
        var copy = await client.GetBlobAsync(Repo(server), BlobDescriptor, Token);
        Assert.Equal(Blob, copy);
        Assert.Equal([null, "bytes=70000-", "bytes=120000-"], server.Requests.Select(r => r.Range).ToList());
    }

    [Fact]
    public async Task A_whole_blob_with_the_wrong_digest_is_refused()
    {
        var tampered = (byte[])Blob.Clone();
        tampered[12345] ^= 0xff;
        await using var server = await FaultServer.StartAsync(context => FaultServer.ServeRangesAsync(context, tampered));
        using var client = Client();
        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => client.GetBlobAsync(Repo(server), BlobDescriptor, Token));
        Assert.Equal(BlobDescriptor.Digest, error.Expected);
        Assert.Contains(server.Host, error.Message);
    }

    [Fact]
    public async Task A_200_answer_to_a_range_request_is_cut_to_the_ranges()
    {
        await using var server = await FaultServer.StartAsync(async context =>
        {
            context.Response.ContentLength = Blob.Length;
            await context.Response.Body.WriteAsync(Blob);
        });
        using var client = Client();
        var buffers = new[] { new byte[10], new byte[20] };
        await client.OpenBlob(Repo(server), BlobDescriptor).ReadAsync([new BlobRange(150_000, buffers[1]), new BlobRange(7, buffers[0])], Token);
        Assert.Equal(Blob.AsSpan(7, 10).ToArray(), buffers[0]);
        Assert.Equal(Blob.AsSpan(150_000, 20).ToArray(), buffers[1]);
    }

    [Fact]
    public async Task Http_400_to_a_multi_range_request_switches_the_blob_to_single_ranges()
    {
        await using var server = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Headers.Range.ToString().Contains(',', StringComparison.Ordinal))
            {
                await FaultServer.ErrorAsync(context, 400, "RANGE_INVALID", "multiple ranges are not supported");
                return;
            }
            await FaultServer.ServeRangesAsync(context, Blob);
        });
        using var client = Client();
        var blob = client.OpenBlob(Repo(server), BlobDescriptor);
        var buffers = new[] { new byte[10], new byte[10], new byte[10] };
        await blob.ReadAsync([new BlobRange(0, buffers[0]), new BlobRange(100, buffers[1]), new BlobRange(1000, buffers[2])], Token);
        Assert.Equal(Blob.AsSpan(100, 10).ToArray(), buffers[1]);
        Assert.Equal(Blob.AsSpan(1000, 10).ToArray(), buffers[2]);
        Assert.True(((Blobs.RangedBlob)blob).SingleRangeOnly);
        var before = server.Requests.Count;
        await blob.ReadAsync([new BlobRange(0, buffers[0]), new BlobRange(100, buffers[1])], Token);
        Assert.Equal(before + 2, server.Requests.Count);
        Assert.DoesNotContain(',', string.Concat(server.Requests.Skip(before).Select(r => r.Range)));
    }

    [Fact]
    public async Task Redirect_to_storage_is_followed_once_cached_sent_no_credentials_and_re_resolved_on_403()
    {
        var expireOnce = 0;
        await using var storage = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Query["sig"] == "1" && Interlocked.CompareExchange(ref expireOnce, 2, 1) == 1)
            {
                context.Response.StatusCode = 403;
                await context.Response.WriteAsync("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
                return;
            }
            await FaultServer.ServeRangesAsync(context, Blob);
        });
        var signature = 0;
        await using var registry = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Headers.Authorization.ToString() != "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:pw")))
            {
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"test\"";
                return;
            }
            // A different authority (localhost, not 127.0.0.1) stands for the blob store.
            var port = storage.Host.Split(':')[1];
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = $"http://localhost:{port}/store/blob?sig={Interlocked.Increment(ref signature)}";
        });
        using var client = Client(o => o.Credentials = (host, _) =>
            ValueTask.FromResult(host == registry.Host ? new RegistryCredential("user", "pw") : null));
        var blob = client.OpenBlob(Repo(registry), BlobDescriptor);
        for (var i = 0; i < 3; i++)
        {
            var buffer = new byte[100];
            await blob.ReadAsync([new BlobRange(i * 1000, buffer)], Token);
            Assert.Equal(Blob.AsSpan(i * 1000, 100).ToArray(), buffer);
        }
        Assert.All(storage.Requests, r => Assert.Null(r.Authorization));
        Assert.Equal(3, storage.Requests.Count);
        Assert.Single(registry.Requests, r => r.Authorization is not null);
        Assert.Equal(new Uri($"http://localhost:{storage.Host.Split(':')[1]}/store/blob?sig=1"), ((Blobs.RangedBlob)blob).Location);

        // The presigned URL expires: one 403, then the registry is asked again and the read succeeds.
        Interlocked.Exchange(ref expireOnce, 1);
        var again = new byte[100];
        await blob.ReadAsync([new BlobRange(5000, again)], Token);
        Assert.Equal(Blob.AsSpan(5000, 100).ToArray(), again);
        Assert.Equal(2, registry.Requests.Count(r => r.Authorization is not null));
        Assert.EndsWith("sig=2", ((Blobs.RangedBlob)blob).Location!.Query);
    }

    [Fact]
    public async Task An_expired_token_is_refreshed_on_401_and_before_it_expires()
    {
        var issued = 0;
        var uses = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var unauthorized = 0;
        FaultServer? self = null;
        await using var server = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Path == "/token")
            {
                var token = "token-" + Interlocked.Increment(ref issued);
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync($$"""{"token":"{{token}}","expires_in":60}""");
                return;
            }
            var sent = context.Request.Headers.Authorization.ToString();
            // Each token is good for three requests; then the server treats it as expired.
            if (!sent.StartsWith("Bearer ", StringComparison.Ordinal) || uses.AddOrUpdate(sent, 1, (_, n) => n + 1) > 3)
            {
                Interlocked.Increment(ref unauthorized);
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"http://{self!.Host}/token\",service=\"fault\",scope=\"repository:repo:pull\"";
                return;
            }
            await FaultServer.ServeRangesAsync(context, Blob);
        });
        self = server;
        var time = new ManualTime();
        using var client = Client(time: time);
        var blob = client.OpenBlob(Repo(server), BlobDescriptor);
        var buffer = new byte[10];
        for (var i = 0; i < 5; i++)
        {
            await blob.ReadAsync([new BlobRange(i, buffer)], Token);
            Assert.Equal(Blob.AsSpan(i, 10).ToArray(), buffer);
        }
        // First 401 brings the challenge (token-1); token-1 is rejected after three uses (token-2).
        Assert.Equal(2, issued);
        Assert.Equal(2, unauthorized);

        // An hour later the cached token is stale: a new one is fetched before sending, without a 401.
        time.Advance(TimeSpan.FromHours(1));
        await blob.ReadAsync([new BlobRange(100, buffer)], Token);
        Assert.Equal(3, issued);
        Assert.Equal(2, unauthorized);
        Assert.Contains(server.Requests, r => r.PathAndQuery.Contains("scope=repository%3Arepo%3Apull", StringComparison.Ordinal) && r.PathAndQuery.Contains("service=fault", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("not json at all", "not JSON")]
    [InlineData("""{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}""", "neither mediaType")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}""", "unsupported media type")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}""", "invalid digest")]
    public async Task Malformed_manifests_fail_with_a_clear_error(string body, string expected)
    {
        await using var server = await FaultServer.StartAsync(async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(body);
        });
        using var client = Client();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.ResolveAsync(ImageReference.Parse($"{server.Host}/repo:v1"), cancellationToken: Token));
        Assert.Contains(expected, error.Message);
        Assert.Contains(server.Host + "/repo", error.Message);
    }

    [Fact]
    public async Task A_manifest_that_does_not_match_its_digest_is_refused()
    {
        var manifest = TestImage.Create(31, null, 10).ManifestBytes;
        await using var server = await FaultServer.StartAsync(async context =>
        {
            context.Response.ContentType = MediaTypes.OciManifest;
            context.Response.Headers["Docker-Content-Digest"] = Digest.Compute("something else"u8).Value;
            await context.Response.Body.WriteAsync(manifest);
        });
        using var client = Client();
        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => client.GetManifestAsync(ImageReference.Parse($"{server.Host}/repo:v1"), Token));
        Assert.Equal(Digest.Compute("something else"u8), error.Expected);
        Assert.Equal(Digest.Compute(manifest), error.Actual);
        var pinned = ImageReference.Parse($"{server.Host}/repo@{Digest.Compute("pinned"u8)}");
        await Assert.ThrowsAsync<DigestMismatchException>(() => client.GetManifestAsync(pinned, Token));
    }

    [Fact]
    public async Task Oversized_manifests_and_huge_headers_are_refused()
    {
        await using var server = await FaultServer.StartAsync(async context =>
        {
            if (context.Request.Path.Value!.Contains("huge", StringComparison.Ordinal))
            {
                context.Response.Headers["X-Huge"] = new string('h', 100_000);
                return;
            }
            context.Response.ContentType = MediaTypes.OciManifest;
            await context.Response.Body.WriteAsync(new byte[5 << 20]);
        });
        using var client = Client();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse($"{server.Host}/repo:v1"), Token));
        Assert.Contains("limit", error.Message);
        error = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(ImageReference.Parse($"{server.Host}/huge:v1"), Token));
        Assert.Contains("header", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(server.Host, error.Message);
    }

    [Fact]
    public async Task Malformed_multipart_and_content_range_fail_clearly()
    {
        await using var server = await FaultServer.StartAsync(async context =>
        {
            context.Response.StatusCode = 206;
            if (context.Request.Headers.Range.ToString().Contains(',', StringComparison.Ordinal))
            {
                context.Response.ContentType = "multipart/byteranges; boundary=b";
                await context.Response.WriteAsync("--b\r\nContent-Type: x\r\n\r\nno range header here\r\n--b--\r\n");
                return;
            }
            context.Response.Headers.ContentRange = $"bytes 0-9/{Blob.Length + 1}";
            await context.Response.Body.WriteAsync(Blob.AsMemory(0, 10));
        });
        using var client = Client();
        var blob = client.OpenBlob(Repo(server), BlobDescriptor);
        var error = await Assert.ThrowsAsync<RegistryException>(() => blob.ReadAsync([new BlobRange(0, new byte[5]), new BlobRange(50, new byte[5])], Token));
        Assert.Contains("no Content-Range", error.Message);
        error = await Assert.ThrowsAsync<RegistryException>(() => blob.ReadAsync([new BlobRange(0, new byte[10])], Token));
        Assert.Contains($"descriptor says {Blob.Length}", error.Message);
    }

    [Fact]
    public async Task A_stalled_server_times_out_and_a_cancelled_read_stops()
    {
        await using var server = await FaultServer.StartAsync(async context =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        });
        using var client = Client(o =>
        {
            o.RequestTimeout = TimeSpan.FromMilliseconds(300);
            o.MaxRetries = 1;
        });
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.GetBlobAsync(Repo(server), BlobDescriptor, Token));
        Assert.Contains("no progress within 0.3 s", error.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));

        using var patient = Client();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Token);
        cancel.CancelAfter(200);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            patient.OpenBlob(Repo(server), BlobDescriptor).ReadAsync([new BlobRange(0, new byte[10])], cancel.Token));
    }

    [Fact]
    public async Task Requests_in_flight_per_host_are_bounded()
    {
        await using var server = await FaultServer.StartAsync(async context =>
        {
            await Task.Delay(50);
            await FaultServer.ServeRangesAsync(context, Blob);
        });
        using var client = Client(o => o.MaxConcurrentRequestsPerHost = 2);
        var blob = client.OpenBlob(Repo(server), BlobDescriptor);
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => blob.ReadAsync([new BlobRange(i * 10, new byte[10])], Token)));
        Assert.Equal(10, server.Requests.Count);
        Assert.InRange(server.MaxInFlight, 1, 2);
    }
}

/// <summary>A clock the test moves by hand; timers still run on real time.</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _offsetTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
}
