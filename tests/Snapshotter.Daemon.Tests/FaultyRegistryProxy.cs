using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Snapshotter.Daemon.Tests;

/// <summary>What <see cref="FaultyRegistryProxy"/> does to blob bodies.</summary>
internal enum RegistryFault
{
    None,

    /// <summary>Every blob response waits <see cref="FaultyRegistryProxy.Delay"/> before its headers.</summary>
    Slow,

    /// <summary>Every second blob response (the first after the fault is set, the third, ...) sends half its body, then the connection is aborted.</summary>
    DropMidBody,

    /// <summary>Every blob response has one byte in the middle of its body flipped.</summary>
    Corrupt,

    /// <summary>Every request, manifests too, is answered 503: the registry is down.</summary>
    Unavailable,

    /// <summary>Manifest requests are answered 503; blobs are served.</summary>
    ManifestsUnavailable,
}

/// <summary>
/// An HTTP proxy on 127.0.0.1 in front of a real registry that forwards everything and, for blob
/// GETs, injects the current <see cref="Fault"/>: the misbehaving registry of the tests.
/// </summary>
internal sealed class FaultyRegistryProxy : IAsyncDisposable
{
    private static readonly string[] ForwardedResponseHeaders = ["Content-Type", "Content-Range", "Docker-Content-Digest", "Docker-Distribution-Api-Version", "Location", "Accept-Ranges", "WWW-Authenticate"];

    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private int _blobRequests;
    private int _sinceFault;
    private volatile RegistryFault _fault;

    private FaultyRegistryProxy(WebApplication app, HttpClient upstream)
    {
        _app = app;
        _upstream = upstream;
    }

    /// <summary><c>127.0.0.1:port</c> of the proxy.</summary>
    public string Host { get; private set; } = "";

    public RegistryFault Fault
    {
        get => _fault;
        set
        {
            Volatile.Write(ref _sinceFault, 0);
            _fault = value;
        }
    }

    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(5);

    public int BlobRequests => Volatile.Read(ref _blobRequests);

    /// <summary>The Range headers of blob GETs, as they arrived.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> BlobRanges { get; } = new();

    /// <summary>When set, a blob GET for a range from <see cref="HoldRangesFrom"/> up to (not including) <see cref="HoldRangesBelow"/> waits for it before it is forwarded.</summary>
    public TaskCompletionSource? Hold { get; set; }

    public long HoldRangesFrom { get; set; }

    public long HoldRangesBelow { get; set; } = long.MaxValue;

    /// <summary>The first byte a Range header (<c>bytes=a-b[,...]</c>) asks for; 0 without one.</summary>
    public static long RangeStart(string range) =>
        range.StartsWith("bytes=", StringComparison.Ordinal) ? long.Parse(range.AsSpan(6, range.IndexOf('-', StringComparison.Ordinal) - 6), System.Globalization.CultureInfo.InvariantCulture) : 0;

    public static async Task<FaultyRegistryProxy> StartAsync(string upstreamHost)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var upstream = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://{upstreamHost}") };
        var proxy = new FaultyRegistryProxy(app, upstream);
        app.Run(proxy.ForwardAsync);
        await app.StartAsync();
        proxy.Host = new Uri(app.Urls.First()).Authority;
        return proxy;
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var request = context.Request;
        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), request.Path + request.QueryString);
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            forward.Content = new StreamContent(request.Body);
            if (request.ContentType is { } type)
            {
                forward.Content.Headers.TryAddWithoutValidation("Content-Type", type);
            }
        }
        foreach (var header in request.Headers)
        {
            if (header.Key is not ("Host" or "Content-Length" or "Content-Type" or "Transfer-Encoding"))
            {
                forward.Headers.TryAddWithoutValidation(header.Key, header.Value.ToArray());
            }
        }
        var isBlobGet = request.Method == "GET" && request.Path.Value!.Contains("/blobs/", StringComparison.Ordinal);
        if (Fault == RegistryFault.Unavailable || (Fault == RegistryFault.ManifestsUnavailable && request.Path.Value!.Contains("/manifests/", StringComparison.Ordinal)))
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        var fault = isBlobGet ? Fault : RegistryFault.None;
        if (isBlobGet)
        {
            Interlocked.Increment(ref _blobRequests);
            var range = request.Headers.Range.ToString();
            BlobRanges.Enqueue(range);
            if (Hold is { } hold && RangeStart(range) >= HoldRangesFrom && RangeStart(range) < HoldRangesBelow)
            {
                await hold.Task.WaitAsync(context.RequestAborted);
            }
            if (fault == RegistryFault.DropMidBody && Interlocked.Increment(ref _sinceFault) % 2 == 0)
            {
                fault = RegistryFault.None;
            }
        }
        if (fault == RegistryFault.Slow)
        {
            await Task.Delay(Delay, context.RequestAborted);
        }
        using var response = await _upstream.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var name in ForwardedResponseHeaders)
        {
            if (response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values))
            {
                context.Response.Headers[name] = values.ToArray();
            }
        }
        var body = await response.Content.ReadAsByteArrayAsync(context.RequestAborted);
        context.Response.ContentLength = body.Length;
        if (fault == RegistryFault.Corrupt && body.Length > 0)
        {
            body[body.Length / 2] ^= 0x5a;
        }
        if (fault == RegistryFault.DropMidBody && body.Length > 1)
        {
            await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            context.Abort();
            return;
        }
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
