using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using Snapshotter.Estargz;
using Snapshotter.Fs;

// Measures, in one run on one machine: sequential and random reads of a 1 GiB file and lstat of
// every file of a 30,000-file layer, through our FUSE mount (without and with passthrough), on
// the local disk (the limit) and through bindfs (libfuse). Needs root, /dev/fuse and bindfs.
// Usage: Snapshotter.Fs.Bench [work directory] [big file MiB] [small files]
//        Snapshotter.Fs.Bench --mount <layer.esgz> <mount point> [passthrough dir]   (serves until stdin closes)
if (args.Length >= 3 && args[0] == "--mount")
{
    var digests = (await File.ReadAllTextAsync(args[1] + ".toc")).Split(' ');
    using var blob = new FileBlob(args[1], Snapshotter.Oci.Digest.Parse(digests[1]));
    var reader = await EstargzReader.OpenAsync(blob, Snapshotter.Oci.Digest.Parse(digests[0]));
    using var operations = new OperationCounts();
    using var mount = await LayerMount.MountAsync(reader, blob, args[2], new LayerMountOptions { PassthroughDirectory = args.Length > 3 ? args[3] : null });
    Console.WriteLine($"mounted {args[1]} at {mount.MountPoint}; close stdin to unmount");
    await Console.In.ReadToEndAsync();
    Console.WriteLine($"{mount.Statistics.ReadRequests} READs, {mount.Statistics.ChunksDecompressed} chunks decompressed");
    Console.WriteLine(operations);
    return;
}
var work = Path.GetFullPath(args.Length > 0 ? args[0] : "/tmp/fs-bench");
var bigMiB = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1024;
var smallCount = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 30_000;
Directory.CreateDirectory(work);
var bench = new FsBench(work, bigMiB, smallCount);
try
{
    await bench.RunAsync();
}
finally
{
    bench.Cleanup();
}

internal sealed class FsBench(string work, int bigMiB, int smallCount)
{
    private const int SeqBuffer = 1024 * 1024;
    private const int RandomBlock = 4096;
    private const int WarmRounds = 5;
    private static readonly TimeSpan RandomBudget = TimeSpan.FromSeconds(8);
    private readonly List<string> _mounts = [];
    private readonly List<IDisposable> _disposables = [];
    private readonly List<string> _rows = [];

    private string Local => Path.Combine(work, "local");

    public async Task RunAsync()
    {
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");
        var (bigLayer, smallLayer, smallPaths) = await PrepareAsync();

        var ours = await MountAsync(bigLayer, smallLayer, "ours", null);
        var passthrough = await MountAsync(bigLayer, smallLayer, "ours-passthrough", Path.Combine(work, "backing"));
        var bindfs = Path.Combine(work, "bindfs");
        Directory.CreateDirectory(bindfs);
        Run("bindfs", "-o", "ro", Local, bindfs);
        _mounts.Add(bindfs);

        // Passthrough: the first open writes the backing file; wait for it, as a warm cache would have it.
        using (File.OpenHandle(Path.Combine(passthrough.Big, "big.bin")))
        {
        }
        var sw = Stopwatch.StartNew();
        await passthrough.Mount.WhenPassthroughIdleAsync();
        Console.WriteLine($"passthrough backing file written in {sw.Elapsed.TotalSeconds:F1} s");

        var targets = new (string Name, string BigDir, string SmallDir)[]
        {
            ("local disk", Local, Path.Combine(Local, "small")),
            ("bindfs (libfuse)", bindfs, Path.Combine(bindfs, "small")),
            ("ours", ours.Big, ours.Small),
            ("ours + passthrough", passthrough.Big, passthrough.Small),
        };
        // Cold figures one target at a time (each after drop_caches); warm figures interleaved
        // round by round and reported as the median, so load from other processes on the machine
        // hits every target alike.
        var cold = new List<(double Seq, double Rand, double Stat)>();
        foreach (var (_, bigDir, smallDir) in targets)
        {
            var file = Path.Combine(bigDir, "big.bin");
            DropCaches();
            var seq = SequentialRead(file);
            DropCaches();
            var rand = RandomRead(file, seed: 1, RandomBudget);
            DropCaches();
            cold.Add((seq, rand, StatAll(smallDir, smallPaths)));
        }
        foreach (var (_, bigDir, smallDir) in targets)
        {
            SequentialRead(Path.Combine(bigDir, "big.bin"));
            StatAll(smallDir, smallPaths);
        }
        var warm = targets.Select(_ => (Seq: new List<double>(), Rand: new List<double>(), Stat: new List<double>())).ToList();
        for (var round = 0; round < WarmRounds; round++)
        {
            for (var t = 0; t < targets.Length; t++)
            {
                var file = Path.Combine(targets[t].BigDir, "big.bin");
                warm[t].Seq.Add(SequentialRead(file));
                warm[t].Rand.Add(RandomRead(file, seed: 2 + round, TimeSpan.FromSeconds(2)));
                warm[t].Stat.Add(StatAll(targets[t].SmallDir, smallPaths));
            }
        }
        // After the measurement, so that mapping the files cannot disturb it.
        var folios = targets.Select(t => PageCacheFolios.Describe(Path.Combine(t.BigDir, "big.bin"))).ToList();
        for (var t = 0; t < targets.Length; t++)
        {
            _rows.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {targets[t].Name,-20} | {cold[t].Seq,8:F0} | {Median(warm[t].Seq),8:F0} | {cold[t].Rand,8:F1} | {Median(warm[t].Rand),8:F1} | {cold[t].Stat,9:F0} | {Median(warm[t].Stat),9:F0} |"));
        }
        Console.WriteLine();
        Console.WriteLine($"cold = after sync + drop_caches (the eStargz blob too); warm = median of {WarmRounds} interleaved rounds (random: 2 s each)");
        Console.WriteLine($"1 GiB = {bigMiB} MiB file; random = {RandomBlock / 1024} KiB preads at random aligned offsets (cold: {RandomBudget.TotalSeconds:F0} s); stat = lstat of {smallCount} files");
        Console.WriteLine("| target               | seq cold MB/s | seq warm MB/s | rand cold MB/s | rand warm MB/s | stat cold /s | stat warm /s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in _rows)
        {
            Console.WriteLine(row);
        }
        Console.WriteLine("page cache of big.bin after the warm rounds (warm sequential reads cost per folio):");
        for (var t = 0; t < targets.Length; t++)
        {
            Console.WriteLine($"  {targets[t].Name}: {folios[t]}");
        }
        Console.WriteLine($"ours: {ours.Mount.Statistics.ReadRequests} READs reached user space, {ours.Mount.Statistics.ChunksDecompressed} chunks decompressed, {ours.Mount.Statistics.VerificationFailures} verification failures");
        Console.WriteLine($"ours + passthrough: {passthrough.Mount.Statistics.ReadRequests} READs reached user space");
    }

    private async Task<(string Big, string Small, List<string> SmallPaths)> PrepareAsync()
    {
        Directory.CreateDirectory(Path.Combine(Local, "small"));
        var bigFile = Path.Combine(Local, "big.bin");
        var sw = Stopwatch.StartNew();
        if (!File.Exists(bigFile) || new FileInfo(bigFile).Length != (long)bigMiB << 20)
        {
            WriteBigFile(bigFile);
        }
        var smallPaths = new List<string>();
        for (var i = 0; i < smallCount; i++)
        {
            smallPaths.Add($"d{i / 100:D3}/f{i:D5}");
        }
        if (!File.Exists(Path.Combine(Local, "small", smallPaths[^1])))
        {
            var random = new Random(5);
            foreach (var path in smallPaths)
            {
                var full = Path.Combine(Local, "small", path);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                var bytes = new byte[random.Next(0, 4096)];
                random.NextBytes(bytes);
                File.WriteAllBytes(full, bytes);
            }
        }
        var big = await ConvertAsync(Path.Combine(work, "big.esgz"), w => w.WriteEntry(bigFile, "big.bin"));
        var small = await ConvertAsync(Path.Combine(work, "small.esgz"), w =>
        {
            foreach (var directory in smallPaths.Select(p => Path.GetDirectoryName(p)!).Distinct())
            {
                w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, directory + "/") { Mode = (UnixFileMode)0x1ed });
            }
            foreach (var path in smallPaths)
            {
                w.WriteEntry(Path.Combine(Local, "small", path), path);
            }
        });
        Console.WriteLine($"prepared layers in {sw.Elapsed.TotalSeconds:F0} s: {new FileInfo(big).Length >> 20} MiB and {new FileInfo(small).Length >> 20} MiB eStargz");
        return (big, small, smallPaths);
    }

    private void WriteBigFile(string path)
    {
        // Moderately compressible: every 64-byte run alternates between random bytes and text.
        using var output = File.Create(path);
        var block = new byte[SeqBuffer];
        var random = new Random(42);
        for (var i = 0; i < bigMiB; i++)
        {
            random.NextBytes(block);
            for (var run = 0; run < block.Length; run += 128)
            {
                for (var k = 0; k < 64; k++)
                {
                    block[run + k] = (byte)('a' + ((run / 128 + k) % 26));
                }
            }
            output.Write(block);
        }
    }

    private async Task<string> ConvertAsync(string path, Action<TarWriter> write)
    {
        if (File.Exists(path + ".toc"))
        {
            return path;
        }
        var tar = path + ".tar";
        await using (var stream = File.Create(tar))
        using (var writer = new TarWriter(stream, TarEntryFormat.Pax))
        {
            write(writer);
        }
        EstargzBuildResult result;
        await using (var input = File.OpenRead(tar))
        await using (var output = File.Create(path))
        {
            result = await EstargzBuilder.BuildAsync(input, output, new EstargzBuildOptions { CompressionLevel = 1, TempDirectory = work });
        }
        File.Delete(tar);
        await File.WriteAllTextAsync(path + ".toc", result.TocDigest + " " + result.BlobDigest);
        return path;
    }

    private async Task<(string Big, string Small, LayerMount Mount)> MountAsync(string bigLayer, string smallLayer, string name, string? passthrough)
    {
        var options = new LayerMountOptions { PassthroughDirectory = passthrough };
        var big = await MountOneAsync(bigLayer, Path.Combine(work, name + "-big"), options);
        var small = await MountOneAsync(smallLayer, Path.Combine(work, name + "-small"), options);
        return (big.MountPoint, small.MountPoint, big);
    }

    private async Task<LayerMount> MountOneAsync(string layer, string mountPoint, LayerMountOptions options)
    {
        Directory.CreateDirectory(mountPoint);
        var digests = (await File.ReadAllTextAsync(layer + ".toc")).Split(' ');
        var blob = new FileBlob(layer, Snapshotter.Oci.Digest.Parse(digests[1]));
        _disposables.Add(blob);
        var reader = await EstargzReader.OpenAsync(blob, Snapshotter.Oci.Digest.Parse(digests[0]));
        var mount = await LayerMount.MountAsync(reader, blob, mountPoint, options);
        _disposables.Insert(0, mount);
        return mount;
    }

    private static double SequentialRead(string path)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(SeqBuffer, pinned: true);
        var sw = Stopwatch.StartNew();
        long total = 0;
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        int read;
        while ((read = RandomAccess.Read(handle, buffer, total)) > 0)
        {
            total += read;
        }
        return total / 1e6 / sw.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static double RandomRead(string path, int seed, TimeSpan budget)
    {
        var buffer = new byte[RandomBlock];
        var random = new Random(seed);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        var blocks = RandomAccess.GetLength(handle) / RandomBlock;
        long total = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < budget)
        {
            for (var i = 0; i < 64; i++)
            {
                total += RandomAccess.Read(handle, buffer, random.NextInt64(blocks) * RandomBlock);
            }
        }
        return total / 1e6 / sw.Elapsed.TotalSeconds;
    }

    private static double StatAll(string root, List<string> paths)
    {
        var sw = Stopwatch.StartNew();
        foreach (var path in paths)
        {
            if (!File.Exists(Path.Combine(root, path)))
            {
                throw new FileNotFoundException(path);
            }
        }
        return paths.Count / sw.Elapsed.TotalSeconds;
    }

    private static void DropCaches()
    {
        Run("sync");
        File.WriteAllText("/proc/sys/vm/drop_caches", "3");
    }

    private static void Run(string file, params string[] arguments)
    {
        using var process = Process.Start(file, arguments);
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}");
        }
    }

    public void Cleanup()
    {
        foreach (var mount in _mounts)
        {
            using var process = Process.Start("umount", ["-l", mount]);
            process.WaitForExit();
        }
        foreach (var disposable in _disposables)
        {
            disposable.Dispose();
        }
    }
}

/// <summary>FUSE requests served, by opcode, with the time the daemon spent on them (the "Snapshotter.Fuse" meter).</summary>
internal sealed class OperationCounts : IDisposable
{
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Count, double Seconds)> _counts = new();

    public OperationCounts()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Snapshotter.Fuse" && instrument.Name == "operation_duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            var opcode = "?";
            foreach (var tag in tags)
            {
                if (tag.Key == "opcode")
                {
                    opcode = tag.Value?.ToString() ?? "?";
                }
            }
            _counts.AddOrUpdate(opcode, (1, seconds), (_, c) => (c.Count + 1, c.Seconds + seconds));
        });
        _listener.Start();
    }

    public override string ToString() => string.Join(", ", _counts.OrderByDescending(c => c.Value.Count)
        .Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value.Count} ({c.Value.Seconds * 1000:F0} ms)")));

    public void Dispose() => _listener.Dispose();
}
