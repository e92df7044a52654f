using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Snapshotter.Benchmark.Running;

/// <summary>Polls a URL until it answers HTTP 200, as a load balancer's health check would (no proxy, fresh connections).</summary>
internal sealed class ReadinessProbe : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(10);
    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        ConnectTimeout = TimeSpan.FromSeconds(2),
        PooledConnectionLifetime = TimeSpan.Zero,
    })
    {
        Timeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Whether the URL answers 200 now (a check that nothing else serves it before a run).</summary>
    public async Task<bool> IsReadyAsync(Uri url, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetAsync(url, HttpCompletionOption.ResponseContentRead, cancellationToken);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // the per-request timeout
        }
    }

    /// <summary>
    /// The <see cref="Stopwatch"/> timestamp of the first 200 (with its body read). Until the port
    /// takes a connection, each round is a bare TCP connect: an HTTP request that fails costs this
    /// process ~1.8 ms of CPU against ~0.4 ms, and at one round per 10 ms that was a fifth of a core
    /// taken from the two the measured container starts on (perf; docs/benchmarks.md, tenth round).
    /// </summary>
    public async Task<long> WaitForFirstOkAsync(Uri url, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var endpoint = new DnsEndPoint(url.Host, url.Port);
        while (true)
        {
            if (await AcceptsConnectionsAsync(endpoint, cancellationToken) && await IsReadyAsync(url, cancellationToken))
            {
                return Stopwatch.GetTimestamp();
            }
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{url} did not answer 200 within {timeout.TotalSeconds:F0} s");
            }
            await Task.Delay(Interval, cancellationToken);
        }
    }

    private static async Task<bool> AcceptsConnectionsAsync(EndPoint endpoint, CancellationToken cancellationToken)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose() => _client.Dispose();
}
