using System.Diagnostics;
using Snapshotter.Testing;

namespace Snapshotter.Fuse.Tests;

/// <summary>
/// A <see cref="TestFileSystem"/> mounted under a temporary directory and served by a real
/// <see cref="FuseServer"/> over /dev/fuse. Dispose always unmounts, stops the server, closes the
/// device and removes the directory, in that order.
/// </summary>
internal sealed class MountedFileSystem : IDisposable
{
    private MountedFileSystem(TempDirectory directory, FuseMount mount, FuseServer server, TestFileSystem fs, CapturingLogger logger)
    {
        Directory = directory;
        Mount = mount;
        Server = server;
        Fs = fs;
        Logger = logger;
    }

    public TempDirectory Directory { get; }
    public FuseMount Mount { get; }
    public FuseServer Server { get; set; }
    public TestFileSystem Fs { get; }
    public CapturingLogger Logger { get; }
    public string Root => Mount.MountPoint;

    public string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static MountedFileSystem Start(TestFileSystem fs, FuseServerOptions? serverOptions = null, FuseMountOptions? mountOptions = null)
    {
        Requirements.Root();
        Requirements.Fuse();
        var directory = new TempDirectory("fuse-test");
        var mountPoint = directory.Combine("mnt");
        System.IO.Directory.CreateDirectory(mountPoint);
        FuseMount? mount = null;
        try
        {
            mount = FuseMount.Mount(mountPoint, mountOptions ?? new FuseMountOptions { Subtype = "fusetest" });
            var logger = new CapturingLogger();
            var server = new FuseServer(mount.Device, fs, serverOptions, logger);
            server.Start();
            if (!server.Initialized.Wait(TimeSpan.FromSeconds(10)))
            {
                throw new TimeoutException("no INIT from the kernel");
            }
            return new MountedFileSystem(directory, mount, server, fs, logger);
        }
        catch
        {
            mount?.Dispose();
            directory.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            Mount.Unmount();
        }
        finally
        {
            try
            {
                Server.Stop();
            }
            finally
            {
                Mount.Dispose();
                Directory.Dispose();
            }
        }
    }

    /// <summary>Runs a command, returns its standard output; fails the test on a non-zero exit.</summary>
    public static string Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), $"{file} timed out");
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {stderr}");
        return stdout.Result;
    }
}
