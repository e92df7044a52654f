using System.Net;
using System.Net.Sockets;
using System.Text;
using Snapshotter.Benchmark.Running;

namespace Snapshotter.Benchmark.Tests;

/// <summary>The probe waits for the port, then for an HTTP 200, as a health check sees the service.</summary>
public sealed class ReadinessProbeTests
{
    [Fact]
    public async Task Waits_for_a_port_that_opens_later_and_then_for_the_first_200()
    {
        var port = FreePort();
        using var probe = new ReadinessProbe();
        var firstOk = probe.WaitForFirstOkAsync(new Uri($"http://127.0.0.1:{port}/"), TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.False(firstOk.IsCompleted); // nothing listens yet

        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        try
        {
            // A service that takes connections before it is ready: 503 until its third request.
            var answered = 0;
            while (!firstOk.IsCompleted)
            {
                var accept = listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken).AsTask();
                if (await Task.WhenAny(accept, firstOk) != accept)
                {
                    break;
                }
                using var client = await accept;
                if (await ReadRequestAsync(client))
                {
                    await AnswerAsync(client, ++answered >= 3 ? "200 OK" : "503 Service Unavailable");
                }
            }
            await firstOk;
            Assert.True(answered >= 3, $"{answered} requests answered");
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>Reads one request's head; false when the connection closed without one (the probe's bare connect check).</summary>
    private static async Task<bool> ReadRequestAsync(TcpClient client)
    {
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await client.GetStream().ReadAsync(buffer, TestContext.Current.CancellationToken);
            if (read == 0)
            {
                return false;
            }
            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        return true;
    }

    private static async Task AnswerAsync(TcpClient client, string status)
    {
        var response = Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        await client.GetStream().WriteAsync(response, TestContext.Current.CancellationToken);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
