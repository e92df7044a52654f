namespace Snapshotter.Snapshots;

/// <summary>Size and inode count of a directory tree, like containerd's <c>fs.DiskUsage</c> (apparent sizes).</summary>
internal static class DiskUsage
{
    public static SnapshotUsage Of(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return default;
        }
        long size = 0;
        long inodes = 1;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = 0,
            IgnoreInaccessible = true,
            ReturnSpecialDirectories = false,
        };
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", options))
        {
            inodes++;
            if (entry is FileInfo file && file.LinkTarget is null)
            {
                size += file.Length;
            }
        }
        return new SnapshotUsage(size, inodes);
    }
}
