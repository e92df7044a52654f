using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Snapshotter.Registry.Tests;

/// <summary>A request as a <see cref="FaultServer"/> saw it.</summary>
internal sealed record SeenRequest(string Method, string PathAndQuery, string? Range, string? Authorization, IReadOnlyDictionary<string, string> Headers, string Protocol);

/// <summary>
/// A Kestrel server on 127.0.0.1 that behaves as each test scripts it: drop connections mid-body,
/// answer 500 then 200, ignore Range, redirect, expire tokens. Records every request.
/// </summary>
internal sealed class FaultServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _inFlight;
    private int _maxInFlight;

    private FaultServer(WebApplication app, string host)
    {
        _app = app;
        Host = host;
    }

    /// <summary><c>127.0.0.1:port</c>.</summary>
    public string Host { get; }

    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    /// <summary>The most requests this server had in flight at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public static async Task<FaultServer> StartAsync(Func<HttpContext, Task> handler, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Limits.MaxResponseBufferSize = null;
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        FaultServer? server = null;
        app.Run(async context =>
        {
            var request = context.Request;
            server!.Requests.Enqueue(new SeenRequest(request.Method, request.Path + request.QueryString, request.Headers.Range.ToString() is { Length: > 0 } r ? r : null,
                request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null,
                request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), request.Protocol));
            var now = Interlocked.Increment(ref server._inFlight);
            InterlockedMax(ref server._maxInFlight, now);
            try
            {
                await handler(context);
            }
            finally
            {
                Interlocked.Decrement(ref server._inFlight);
            }
        });
        await app.StartAsync();
        var address = new Uri(app.Urls.First());
        server = new FaultServer(app, $"127.0.0.1:{address.Port.ToString(CultureInfo.InvariantCulture)}");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    /// <summary>Serves <paramref name="blob"/> honouring Range (single and multi, as Go's ServeContent does).</summary>
    public static async Task ServeRangesAsync(HttpContext context, byte[] blob, bool multipart = true)
    {
        var header = context.Request.Headers.Range.ToString();
        var response = context.Response;
        if (string.IsNullOrEmpty(header))
        {
            response.StatusCode = 200;
            response.ContentLength = blob.Length;
            await response.Body.WriteAsync(blob);
            return;
        }
        var ranges = ParseRanges(header, blob.Length);
        if (ranges.Count == 1 || !multipart)
        {
            var (first, last) = ranges[0];
            response.StatusCode = 206;
            response.Headers.ContentRange = $"bytes {first}-{last}/{blob.Length}";
            response.ContentLength = last - first + 1;
            await response.Body.WriteAsync(blob.AsMemory((int)first, (int)(last - first + 1)));
            return;
        }
        const string boundary = "3d6b6a416f9b5";
        response.StatusCode = 206;
        response.ContentType = $"multipart/byteranges; boundary={boundary}";
        var body = new MemoryStream();
        foreach (var (first, last) in ranges)
        {
            body.Write(Encoding.ASCII.GetBytes($"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {first}-{last}/{blob.Length}\r\n\r\n"));
            body.Write(blob, (int)first, (int)(last - first + 1));
        }
        body.Write(Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n"));
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body.ToArray());
    }

    public static List<(long First, long Last)> ParseRanges(string header, long size) =>
        header["bytes=".Length..].Split(',').Select(part =>
        {
            var pieces = part.Trim().Split('-');
            var first = long.Parse(pieces[0], CultureInfo.InvariantCulture);
            var last = pieces[1].Length == 0 ? size - 1 : Math.Min(size - 1, long.Parse(pieces[1], CultureInfo.InvariantCulture));
            return (first, last);
        }).ToList();

    /// <summary>Writes a distribution error body.</summary>
    public static async Task ErrorAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"errors":[{"code":"{{code}}","message":"{{message}}"}]}""");
    }
}
