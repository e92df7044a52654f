using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Snapshotter.Testing.Tar;

/// <summary>Everything about one tar entry that must survive a conversion, in a comparable form.</summary>
public sealed record TarEntrySnapshot(
    string Name,
    TarEntryType Type,
    int Mode,
    int Uid,
    int Gid,
    string UserName,
    string GroupName,
    long ModTimeSeconds,
    string LinkName,
    int DevMajor,
    int DevMinor,
    long Size,
    string ContentSha256,
    string Xattrs);

/// <summary>
/// Reads a tar (or tar+gzip) stream with System.Formats.Tar, an implementation independent of
/// ours, into comparable records. Names are canonical (no <c>./</c> prefix or trailing slash).
/// </summary>
public static class TarSnapshot
{
    public static IReadOnlyList<TarEntrySnapshot> Read(byte[] layer, bool skipEstargzEntries = false)
    {
        using var input = new MemoryStream(layer);
        Stream stream = layer.Length > 2 && layer[0] == 0x1f && layer[1] == 0x8b ? new GZipStream(input, CompressionMode.Decompress) : input;
        using var reader = new TarReader(stream);
        var result = new List<TarEntrySnapshot>();
        while (reader.GetNextEntry(copyData: true) is { } entry)
        {
            var name = Canonical(entry.Name);
            if (skipEstargzEntries && name is "stargz.index.json" or ".prefetch.landmark" or ".no.prefetch.landmark")
            {
                continue;
            }
            var content = entry.DataStream is { } data ? SHA256.HashData(data) : SHA256.HashData([]);
            var xattrs = entry is PaxTarEntry pax
                ? string.Join(";", pax.ExtendedAttributes.Where(p => p.Key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                    .OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))
                : "";
            var posix = entry as PosixTarEntry;
            result.Add(new TarEntrySnapshot(
                name,
                entry.EntryType == TarEntryType.V7RegularFile ? TarEntryType.RegularFile : entry.EntryType,
                (int)entry.Mode,
                entry.Uid,
                entry.Gid,
                posix?.UserName ?? "",
                posix?.GroupName ?? "",
                entry.ModificationTime.ToUnixTimeSeconds(),
                entry.LinkName ?? "",
                posix?.DeviceMajor ?? 0,
                posix?.DeviceMinor ?? 0,
                entry.Length,
                Convert.ToHexStringLower(content),
                xattrs));
        }
        return result;
    }

    public static string Canonical(string name)
    {
        var trimmed = name;
        while (trimmed.StartsWith("./", StringComparison.Ordinal))
        {
            trimmed = trimmed[2..];
        }
        return trimmed.TrimEnd('/');
    }
}
