using System.Diagnostics;
using System.Net;

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

    /// <summary>The <see cref="Stopwatch"/> timestamp of the first 200 (with its body read).</summary>
    public async Task<long> WaitForFirstOkAsync(Uri url, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (await IsReadyAsync(url, cancellationToken))
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

    public void Dispose() => _client.Dispose();
}
