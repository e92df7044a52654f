using System.Net;
using System.Net.Sockets;
using System.Text;
using Snapshotter.Oci;
using Snapshotter.Registry;

namespace Snapshotter.Daemon.WarmUp;

/// <summary>
/// A registry of one image on 127.0.0.1 for the daemon's warm-up pull: GET and HEAD of its manifest
/// and blobs, single byte ranges answered 206. Plain HTTP/1.1, one request per connection. Only
/// what <see cref="Registry.RegistryClient"/> asks of a real registry; anything else is a 404.
/// </summary>
internal sealed class LoopbackRegistry : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Dictionary<string, (string MediaType, byte[] Bytes)> _content = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;

    public LoopbackRegistry(string repository, ManifestContent manifest, IEnumerable<(Descriptor Descriptor, byte[] Bytes)> blobs)
    {
        _content[$"/v2/{repository}/manifests/latest"] = (manifest.MediaType, manifest.Bytes);
        _content[$"/v2/{repository}/manifests/{manifest.Digest}"] = (manifest.MediaType, manifest.Bytes);
        foreach (var (descriptor, bytes) in blobs)
        {
            _content[$"/v2/{repository}/blobs/{descriptor.Digest}"] = ("application/octet-stream", bytes);
        }
        _listener.Start();
        Host = $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _serving = Task.Run(ServeAsync);
    }

    /// <summary>host:port to name the image by.</summary>
    public string Host { get; }

    private async Task ServeAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
                _ = Task.Run(() => AnswerAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task AnswerAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var head = await ReadHeadAsync(stream).ConfigureAwait(false);
                if (head is null)
                {
                    return; // not HTTP (an https attempt first, as for any loopback registry)
                }
                await stream.WriteAsync(Respond(head)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
            }
        }
    }

    /// <summary>The request line and headers, or null when the peer does not speak HTTP/1.1.</summary>
    private async Task<string[]?> ReadHeadAsync(NetworkStream stream)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var buffer = new byte[16 * 1024];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }
            filled += read;
            var text = Encoding.Latin1.GetString(buffer, 0, filled);
            if (!text.StartsWith("GET ", StringComparison.Ordinal) && !text.StartsWith("HEAD ", StringComparison.Ordinal))
            {
                return null;
            }
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                return text[..end].Split("\r\n");
            }
        }
        return null;
    }

    private byte[] Respond(string[] head)
    {
        var request = head[0].Split(' ');
        var path = request.Length > 1 ? request[1].Split('?')[0] : "";
        var isHead = request[0] == "HEAD";
        if (path == "/v2/" || path == "/v2")
        {
            return Response("200 OK", "application/json", "{}"u8.ToArray(), null, isHead);
        }
        if (!_content.TryGetValue(path, out var content))
        {
            return Response("404 Not Found", "application/json", """{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}"""u8.ToArray(), null, isHead);
        }
        var range = head.Skip(1).Select(h => h.Split(':', 2)).FirstOrDefault(h => h.Length == 2 && h[0].Trim().Equals("Range", StringComparison.OrdinalIgnoreCase))?[1].Trim();
        if (range is null || !TryParseRange(range, content.Bytes.Length, out var start, out var end))
        {
            return Response("200 OK", content.MediaType, content.Bytes, null, isHead);
        }
        return Response("206 Partial Content", content.MediaType, content.Bytes[(int)start..(int)(end + 1)], $"bytes {start}-{end}/{content.Bytes.Length}", isHead);
    }

    /// <summary>bytes=a-b, bytes=a- or bytes=-n, clamped to the content.</summary>
    private static bool TryParseRange(string value, long length, out long start, out long end)
    {
        start = end = 0;
        if (!value.StartsWith("bytes=", StringComparison.Ordinal) || value.Contains(',', StringComparison.Ordinal) || length == 0)
        {
            return false;
        }
        var parts = value["bytes=".Length..].Split('-');
        if (parts.Length != 2)
        {
            return false;
        }
        if (parts[0].Length == 0)
        {
            if (!long.TryParse(parts[1], out var suffix) || suffix <= 0)
            {
                return false;
            }
            start = Math.Max(0, length - suffix);
            end = length - 1;
            return true;
        }
        if (!long.TryParse(parts[0], out start) || start >= length)
        {
            return false;
        }
        end = parts[1].Length == 0 ? length - 1 : long.TryParse(parts[1], out var last) ? Math.Min(last, length - 1) : -1;
        return end >= start;
    }

    private static byte[] Response(string status, string mediaType, byte[] body, string? contentRange, bool isHead)
    {
        var digest = status.StartsWith("20", StringComparison.Ordinal) && contentRange is null ? $"Docker-Content-Digest: {Digest.Compute(body)}\r\n" : "";
        var range = contentRange is null ? "" : $"Content-Range: {contentRange}\r\n";
        var header = Encoding.Latin1.GetBytes(
            $"HTTP/1.1 {status}\r\nContent-Type: {mediaType}\r\nContent-Length: {body.Length}\r\n{digest}{range}Docker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n");
        return isHead ? header : [.. header, .. body];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _serving.ConfigureAwait(false);
        _stop.Dispose();
    }
}
