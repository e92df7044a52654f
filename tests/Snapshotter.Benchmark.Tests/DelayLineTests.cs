using System.Diagnostics;
using System.Globalization;
using Snapshotter.Benchmark.Link;
using Snapshotter.Testing;

namespace Snapshotter.Benchmark.Tests;

/// <summary>
/// The user-space delay line between the host and a network namespace it creates: an HTTP fetch
/// through it arrives intact and no sooner than the round trips it needs allow.
/// </summary>
public sealed class DelayLineTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Fetches_from_the_namespace_take_at_least_two_round_trips_and_arrive_intact()
    {
        Requirements.Root();
        Requirements.Tool("ip", "iproute2");
        var busybox = Requirements.Tool("busybox", "busybox-static");
        Assert.SkipUnless(File.Exists("/dev/net/tun") || Requirements.InCi, "needs /dev/net/tun");
        var id = (Environment.ProcessId % 100_000).ToString(CultureInfo.InvariantCulture);
        var (ns, hostName, peerName, subnet) = ($"sgzbt-{id}", $"sgzbt{id}h", $"sgzbt{id}n", $"10.214.{Environment.ProcessId % 250}.");
        var delay = TimeSpan.FromMilliseconds(100);
        using var directory = new TempDirectory("bench-link");
        var content = new byte[2_000_000];
        Random.Shared.NextBytes(content);
        await File.WriteAllBytesAsync(directory.Combine("blob"), content, Token);
        await File.WriteAllTextAsync(directory.Combine("small"), "ok", Token);

        using var host = TunDevice.Create(hostName);
        using var peer = TunDevice.Create(peerName);
        using var stop = new CancellationTokenSource();
        var line = new DelayLine(host, peer, delay);
        var running = line.RunAsync(stop.Token);
        await Ip("netns", "add", ns);
        try
        {
            await Ip("link", "set", peerName, "netns", ns);
            await Ip("addr", "add", subnet + "1/30", "dev", hostName);
            await Ip("link", "set", hostName, "up");
            await Ip("-n", ns, "addr", "add", subnet + "2/30", "dev", peerName);
            await Ip("-n", ns, "link", "set", peerName, "up");
            await using var httpd = new BackgroundProcess("ip", ["netns", "exec", ns, busybox, "httpd", "-f", "-p", subnet + "2:8080", "-h", directory.Path]);
            using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero });
            var baseUrl = new Uri($"http://{subnet}2:8080/");
            await httpd.WaitUntilAsync(async () => (await Ip("-n", ns, "link", "show", peerName)).Contains("UP", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "link up");
            await httpd.WaitUntilAsync(async () =>
            {
                try
                {
                    return await client.GetStringAsync(new Uri(baseUrl, "small"), Token) == "ok";
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(30), "serving through the link");

            // A tiny fetch on a new connection: the TCP handshake, then request and response, so two
            // round trips of 2 × delay at least (milliseconds without the delay line's hold).
            var started = Stopwatch.GetTimestamp();
            Assert.Equal("ok", await client.GetStringAsync(new Uri(baseUrl, "small"), Token));
            var elapsed = Stopwatch.GetElapsedTime(started);
            Assert.True(elapsed >= 4 * delay, $"fetched in {elapsed.TotalMilliseconds:F0} ms, under two round trips of {2 * delay.TotalMilliseconds} ms");
            var fetched = await client.GetByteArrayAsync(new Uri(baseUrl, "blob"), Token);
            Assert.Equal(content, fetched);
            Assert.Matches(@"sgzbt\d+h → sgzbt\d+n: [1-9]\d* packets", line.Describe());
        }
        finally
        {
            await stop.CancelAsync();
            await running;
            await ProcessRunner.RunAsync("ip", ["netns", "del", ns], TimeSpan.FromSeconds(30), cancellationToken: CancellationToken.None); // cleanup even when cancelled
        }
    }

    private static async Task<string> Ip(params string[] args) =>
        (await ProcessRunner.RunAsync("ip", args, TimeSpan.FromSeconds(30), cancellationToken: Token)).EnsureSuccess().StandardOutput;
}
