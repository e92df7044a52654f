using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace Snapshotter.Oci;

/// <summary>An OCI content digest, <c>algorithm:hex</c>. Only sha256 is accepted, as containerd does by default.</summary>
public readonly record struct Digest
{
    public const string Sha256Algorithm = "sha256";
    private const int Sha256HexLength = 64;

    private Digest(string value) => Value = value;

    /// <summary>The canonical text form, e.g. <c>sha256:e3b0…</c>.</summary>
    public string Value { get; }

    public string Algorithm => Value[..Value.IndexOf(':', StringComparison.Ordinal)];

    public string Hex => Value[(Value.IndexOf(':', StringComparison.Ordinal) + 1)..];

    public override string ToString() => Value ?? "";

    public static Digest Parse(string text) =>
        TryParse(text, out var digest) ? digest : throw new FormatException($"invalid digest '{Truncate(text)}': expected sha256:<64 lowercase hex digits>");

    public static bool TryParse([NotNullWhen(true)] string? text, out Digest digest)
    {
        digest = default;
        if (text is null || text.Length != Sha256Algorithm.Length + 1 + Sha256HexLength ||
            !text.StartsWith("sha256:", StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var c in text.AsSpan(Sha256Algorithm.Length + 1))
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }
        digest = new Digest(text);
        return true;
    }

    public static Digest FromSha256Hash(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("a sha256 hash is 32 bytes", nameof(hash));
        }
        return new Digest("sha256:" + Convert.ToHexStringLower(hash));
    }

    public static Digest Compute(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, hash);
        return FromSha256Hash(hash);
    }

    public static async Task<Digest> ComputeAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return FromSha256Hash(hash);
    }

    /// <summary>True when <paramref name="data"/> hashes to this digest, without allocating.</summary>
    public bool Matches(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, hash);
        Span<byte> expected = stackalloc byte[SHA256.HashSizeInBytes];
        Convert.FromHexString(Hex, expected, out _, out _);
        return CryptographicOperations.FixedTimeEquals(hash, expected);
    }

    private static string Truncate(string? text) =>
        text is null ? "(null)" : text.Length <= 80 ? text : text[..80] + "…";
}

/// <summary>Hashes a stream of bytes as it passes and checks the result against an expected digest.</summary>
public sealed class DigestVerifier : IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public void Append(ReadOnlySpan<byte> data) => _hash.AppendData(data);

    public Digest Current()
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        _hash.GetCurrentHash(hash);
        return Digest.FromSha256Hash(hash);
    }

    /// <summary>Throws <see cref="DigestMismatchException"/> unless the bytes appended so far hash to <paramref name="expected"/>.</summary>
    public void Verify(Digest expected, string what)
    {
        var actual = Current();
        if (actual != expected)
        {
            throw new DigestMismatchException(what, expected, actual);
        }
    }

    public void Dispose() => _hash.Dispose();
}

public sealed class DigestMismatchException(string what, Digest expected, Digest actual)
    : Exception($"digest mismatch for {what}: expected {expected}, got {actual}")
{
    public Digest Expected { get; } = expected;
    public Digest Actual { get; } = actual;
}
