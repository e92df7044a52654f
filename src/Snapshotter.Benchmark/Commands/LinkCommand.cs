using System.CommandLine;
using System.Globalization;
using Snapshotter.Benchmark.Link;

namespace Snapshotter.Benchmark.Commands;

/// <summary>
/// <c>stargz-bench link HOST_IF PEER_IF --delay-ms N</c>: two TUN interfaces joined by a delay line,
/// for as long as the command runs (the interfaces vanish with it). The caller moves PEER_IF into a
/// network namespace, gives both addresses and adds a tbf qdisc for the rate.
/// </summary>
internal static class LinkCommand
{
    public static Command Create()
    {
        var hostInterface = new Argument<string>("host-interface") { Description = "name of the TUN interface to create for this side (at most 15 characters)" };
        var peerInterface = new Argument<string>("peer-interface") { Description = "name of the TUN interface for the other side (to be moved into a namespace)" };
        var delay = new Option<double>("--delay-ms") { Description = "one-way delay in milliseconds (the round trip is twice this)", DefaultValueFactory = _ => 10 };
        var command = new Command("link", "a point-to-point link of two TUN interfaces with a one-way delay (netem's delay for kernels without sch_netem); runs until stopped (needs root)")
        {
            hostInterface, peerInterface, delay,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var milliseconds = result.GetValue(delay);
            if (milliseconds is < 0 or > 10_000)
            {
                throw new FormatException("--delay-ms must be between 0 and 10000");
            }
            using var host = TunDevice.Create(result.GetRequiredValue(hostInterface));
            using var peer = TunDevice.Create(result.GetRequiredValue(peerInterface));
            var line = new DelayLine(host, peer, TimeSpan.FromMilliseconds(milliseconds));
            var running = line.RunAsync(cancellationToken);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"link {host.Name} <-> {peer.Name}: {milliseconds} ms each way; ready"));
            await running;
            Console.Error.WriteLine($"stargz-bench link: {line.Describe()}");
            return ExitCodes.Success;
        });
        return command;
    }
}
