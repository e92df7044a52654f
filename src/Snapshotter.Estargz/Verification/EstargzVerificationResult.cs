using Snapshotter.Oci;

namespace Snapshotter.Estargz;

/// <summary>What <see cref="EstargzVerifier"/> checked and what it found wrong; a CLI prints it as is.</summary>
public sealed record EstargzVerificationResult
{
    /// <summary>True when no problem was found.</summary>
    public bool IsValid => Problems.Count == 0;

    /// <summary>Null when the footer could not be read.</summary>
    public EstargzFormat? Format { get; init; }

    /// <summary>The digest of the TOC JSON found in the blob; null when it could not be read.</summary>
    public Digest? TocDigest { get; init; }

    public long BlobSize { get; init; }

    public int TocEntryCount { get; init; }

    public int RegularFileCount { get; init; }

    public int ChunkCount { get; init; }

    /// <summary>Chunks whose content matched their chunkDigest.</summary>
    public int VerifiedChunkCount { get; init; }

    /// <summary>Uncompressed bytes of verified chunks.</summary>
    public long VerifiedBytes { get; init; }

    /// <summary>Entries of the tar stream inside the blob, the TOC entry included.</summary>
    public int TarEntryCount { get; init; }

    /// <summary>Every problem found, one sentence each, capped at <see cref="EstargzVerifier.MaxProblems"/>.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];
}
