using System.CommandLine;
using Snapshotter.Containerd;

namespace Snapshotter.Cli.Commands;

/// <summary>Options every command that talks to containerd takes, given before or after the command name.</summary>
internal static class GlobalOptions
{
    public static Option<string> Address { get; } = new("--address", "-a")
    {
        Description = "containerd's socket",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CONTAINERD_ADDRESS") is { Length: > 0 } address ? address : ContainerdClient.DefaultAddress,
        Recursive = true,
    };

    public static Option<string> Namespace { get; } = new("--namespace", "-n")
    {
        Description = "containerd namespace",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("CONTAINERD_NAMESPACE") is { Length: > 0 } ns ? ns : ContainerdClient.DefaultNamespace,
        Recursive = true,
    };

    /// <summary>A client of the containerd the command line names.</summary>
    public static ContainerdClient Connect(ParseResult result) =>
        ContainerdClient.Connect(result.GetRequiredValue(Address), result.GetRequiredValue(Namespace));
}
