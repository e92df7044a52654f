using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace Snapshotter.Oci;

/// <summary>
/// An OCI platform (<c>os/architecture[/variant]</c>). Values are normalised as containerd's
/// <c>platforms</c> package does: x86_64 → amd64, aarch64 → arm64 (variant v8 dropped), armhf → arm/v7.
/// </summary>
public sealed record Platform
{
    public Platform(string os, string architecture, string? variant = null)
    {
        (Os, Architecture, Variant) = Normalize(os, architecture, variant);
    }

    [JsonPropertyName("os")]
    public string Os { get; init; }

    [JsonPropertyName("architecture")]
    public string Architecture { get; init; }

    [JsonPropertyName("variant")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Variant { get; init; }

    [JsonPropertyName("os.version")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? OsVersion { get; init; }

    [JsonPropertyName("os.features")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? OsFeatures { get; init; }

    /// <summary>The platform of this machine (linux/amd64, linux/arm64, linux/arm/v7…).</summary>
    public static Platform Default { get; } = new(CurrentOs(), CurrentArchitecture());

    /// <summary>Parses <c>os/arch[/variant]</c>, or a bare architecture with the current OS, e.g. <c>linux/arm64/v8</c>.</summary>
    public static Platform Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length is < 1 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
        {
            throw new FormatException($"invalid platform '{text}': expected os/architecture[/variant]");
        }
        return parts.Length switch
        {
            1 => new Platform(CurrentOs(), parts[0]),
            2 => new Platform(parts[0], parts[1]),
            _ => new Platform(parts[0], parts[1], parts[2]),
        };
    }

    /// <summary>This platform with os, architecture and variant normalised (as read from JSON they may not be).</summary>
    public Platform Normalized()
    {
        var (os, architecture, variant) = Normalize(Os, Architecture, Variant);
        return this with { Os = os, Architecture = architecture, Variant = variant };
    }

    /// <summary>
    /// How well an image built for <paramref name="candidate"/> runs here: 0 = no match, higher is
    /// better. An exact variant scores highest; older compatible variants (arm v6 on arm v7, amd64 v2
    /// on v3) score lower the further they are; arm64 hosts also accept arm/v7 and older.
    /// </summary>
    public int MatchScore(Platform candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var wanted = Normalized();
        var other = candidate.Normalized();
        if (!string.Equals(wanted.Os, other.Os, StringComparison.Ordinal))
        {
            return 0;
        }
        if (string.Equals(wanted.Architecture, other.Architecture, StringComparison.Ordinal))
        {
            if (string.Equals(wanted.Variant, other.Variant, StringComparison.Ordinal))
            {
                return 100;
            }
            var have = VariantLevel(wanted.Architecture, wanted.Variant);
            var can = VariantLevel(other.Architecture, other.Variant);
            return have > 0 && can > 0 && can < have ? 90 - (have - can) : 0;
        }
        if (wanted.Architecture == "arm64" && other.Architecture == "arm")
        {
            var level = VariantLevel("arm", other.Variant);
            return level is > 0 and <= 8 ? 50 + level : 0;
        }
        return 0;
    }

    public bool Matches(Platform candidate) => MatchScore(candidate) > 0;

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    private static int VariantLevel(string architecture, string? variant) => (architecture, variant) switch
    {
        ("arm", "v5") => 5,
        ("arm", "v6") => 6,
        ("arm", "v7") => 7,
        ("arm", "v8") => 8,
        ("amd64", null) => 1,
        ("amd64", "v2") => 2,
        ("amd64", "v3") => 3,
        ("amd64", "v4") => 4,
        _ => 0,
    };

    private static (string Os, string Architecture, string? Variant) Normalize(string os, string architecture, string? variant)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(os);
        ArgumentException.ThrowIfNullOrWhiteSpace(architecture);
        os = os.Trim().ToLowerInvariant();
        if (os == "macos")
        {
            os = "darwin";
        }
        architecture = architecture.Trim().ToLowerInvariant();
        variant = string.IsNullOrWhiteSpace(variant) ? null : variant.Trim().ToLowerInvariant();
        switch (architecture)
        {
            case "i386":
            case "i686":
                return (os, "386", null);
            case "x86_64":
            case "x86-64":
            case "amd64":
                return (os, "amd64", variant is "v1" ? null : variant);
            case "aarch64":
            case "arm64":
                return (os, "arm64", variant is "8" or "v8" ? null : variant);
            case "armhf":
                return (os, "arm", "v7");
            case "armel":
                return (os, "arm", "v6");
            case "arm":
                return (os, "arm", variant switch
                {
                    null or "7" => "v7",
                    "5" or "6" or "8" => "v" + variant,
                    _ => variant,
                });
            default:
                return (os, architecture, variant);
        }
    }

    private static string CurrentOs() =>
        OperatingSystem.IsLinux() ? "linux" :
        OperatingSystem.IsWindows() ? "windows" :
        OperatingSystem.IsMacOS() ? "darwin" :
        OperatingSystem.IsFreeBSD() ? "freebsd" : "linux";

    private static string CurrentArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm or System.Runtime.InteropServices.Architecture.Armv6 => "arm",
        System.Runtime.InteropServices.Architecture.S390x => "s390x",
        System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
        System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
        System.Runtime.InteropServices.Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };
}
