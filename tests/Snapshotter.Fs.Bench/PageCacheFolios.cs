using System.Buffers.Binary;
using System.Globalization;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

/// <summary>
/// The sizes of the page-cache folios that hold a file's resident pages: mapped read-only, each
/// resident page's PFN from /proc/self/pagemap, then KPF_COMPOUND_TAIL from /proc/kpageflags
/// (root only). A folio is one page without the tail bit followed by the pages with it. Warm
/// sequential reads cost per folio, so this tells whether a mount gets large folios.
/// </summary>
internal static unsafe partial class PageCacheFolios
{
    private const int PageSize = 4096;
    private const int CompoundTail = 16;
    private const ulong Present = 1UL << 63;
    private const ulong PfnMask = (1UL << 55) - 1;

    /// <summary>"262144 resident pages in 262144 folios: 4 KiB ×262144" or the reason it could not tell.</summary>
    public static string Describe(string path)
    {
        try
        {
            return DescribeCore(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown (" + e.Message + ")";
        }
    }

    private static string DescribeCore(string path)
    {
        using var file = File.OpenHandle(path);
        var length = RandomAccess.GetLength(file);
        var pages = (length + PageSize - 1) / PageSize;
        using var map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        using var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        using var pagemap = File.OpenHandle("/proc/self/pagemap");
        using var kpageflags = File.OpenHandle("/proc/kpageflags");
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        try
        {
            var resident = new byte[pages];
            fixed (byte* vector = resident)
            {
                if (MinCore(start, (nuint)length, vector) != 0)
                {
                    throw new IOException($"mincore failed: errno {Marshal.GetLastPInvokeError()}");
                }
            }
            var folios = new SortedDictionary<long, long>();
            long run = 0, residentPages = 0;
            Span<byte> entry = stackalloc byte[8];
            for (long i = 0; i < pages; i++)
            {
                if ((resident[i] & 1) == 0)
                {
                    Count(folios, ref run);
                    continue;
                }
                residentPages++;
                // Touch the page so that it is mapped (it is resident: no READ reaches the server).
                _ = Volatile.Read(ref start[i * PageSize]);
                RandomAccess.Read(pagemap, entry, ((long)start / PageSize + i) * 8);
                var pte = BinaryPrimitives.ReadUInt64LittleEndian(entry);
                if ((pte & Present) == 0)
                {
                    Count(folios, ref run);
                    continue;
                }
                RandomAccess.Read(kpageflags, entry, (long)(pte & PfnMask) * 8);
                var tail = (BinaryPrimitives.ReadUInt64LittleEndian(entry) >> CompoundTail & 1) != 0;
                if (!tail || run == 0)
                {
                    Count(folios, ref run);
                }
                run++;
            }
            Count(folios, ref run);
            var sizes = string.Join(", ", folios.Reverse().Select(f => string.Create(CultureInfo.InvariantCulture, $"{f.Key * PageSize / 1024} KiB ×{f.Value}")));
            return string.Create(CultureInfo.InvariantCulture, $"{residentPages} of {pages} pages resident, in {folios.Values.Sum()} folios: {sizes}");
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    private static void Count(SortedDictionary<long, long> folios, ref long run)
    {
        if (run > 0)
        {
            folios[run] = folios.GetValueOrDefault(run) + 1;
            run = 0;
        }
    }

    [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static partial int MinCore(byte* address, nuint length, byte* vector);
}
