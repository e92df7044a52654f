using Snapshotter.Benchmark.Running;

namespace Snapshotter.Benchmark.Tests;

public sealed class MountTableTests
{
    private static readonly string[] Mountinfo =
    [
        "36 35 98:0 / /mnt/root rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        "40 36 0:50 / /tmp/bench/run-001/stargz/snapshots/1/fs ro,nosuid,nodev - fuse.stargz stargz ro,user_id=0",
        "41 36 0:51 / /tmp/bench/run-001/stargz/snapshots/2/fs ro shared:7 master:2 - fuse stargz ro",
        "42 36 0:52 / /tmp/bench/run-0010/x rw - overlay overlay rw",
        "43 36 0:53 / /tmp/with\\040space rw - tmpfs tmpfs rw",
    ];

    [Fact]
    public void Parses_the_mount_point_and_the_filesystem_type_after_the_optional_fields()
    {
        var mounts = MountTable.Parse(Mountinfo);

        Assert.Equal(5, mounts.Count);
        Assert.Equal(new MountTable.Entry("/tmp/bench/run-001/stargz/snapshots/1/fs", "fuse.stargz"), mounts[1]);
        Assert.Equal("fuse", mounts[2].FsType);
        Assert.Equal(new MountTable.Entry("/tmp/with space", "tmpfs"), mounts[4]);
    }

    [Fact]
    public void Under_a_directory_means_at_or_below_it_not_beside_it_with_a_longer_name()
    {
        var under = MountTable.Under(MountTable.Parse(Mountinfo), "/tmp/bench/run-001/");
        Assert.Equal(["/tmp/bench/run-001/stargz/snapshots/1/fs", "/tmp/bench/run-001/stargz/snapshots/2/fs"], under.Select(m => m.MountPoint));
    }
}
