using System.Security.Cryptography;
using Snapshotter.Containerd;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Containerd.Tests;

/// <summary>The client against a real containerd (no snapshotter of ours): content, leases, images, errors.</summary>
public sealed class ContainerdClientTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Content_is_written_in_messages_verified_labelled_read_back_and_deleted()
    {
        await using var containerd = await ContainerdFixture.StartAsync();
        using var client = ContainerdClient.Connect(containerd.Address, "client-test");
        var (version, _) = await client.VersionAsync(Token);
        Assert.StartsWith("1.", version, StringComparison.Ordinal);
        // Under a lease, as a pull writes: containerd's garbage collector removes content nothing
        // references, and its first run after start could take the blob between write and Info.
        var lease = await client.Leases.CreateAsync("content-test", DateTimeOffset.UtcNow.AddHours(1), cancellationToken: Token);
        var leased = client.WithLease(lease.Id);

        // Larger than one write message, so the stream sends several; progress hears the bytes.
        var bytes = RandomNumberGenerator.GetBytes(ContentWriteStream.MessageSize * 2 + 12345);
        var blob = Descriptor.For(MediaTypes.OciLayer, bytes);
        var reported = new List<long>();
        var written = await leased.Content.WriteAsync("layer-test", blob, new Dictionary<string, string> { ["test/label"] = "one" },
            (stream, token) => stream.WriteAsync(bytes, token).AsTask(), new SyncProgress(reported.Add), Token);
        Assert.True(written);
        Assert.Equal(bytes.Length, reported[^1]);
        Assert.True(reported.Count >= 3);

        var info = await leased.Content.InfoAsync(blob.Digest, Token);
        Assert.NotNull(info);
        Assert.Equal(bytes.Length, info.Size);
        Assert.Equal("one", info.Labels["test/label"]);
        Assert.Equal(bytes, await leased.Content.ReadAllAsync(blob.Digest, Token));
        Assert.Contains(blob.Digest, await leased.Content.ListAsync(cancellationToken: Token).Select(i => i.Digest).ToListAsync(Token));

        // A second write of the same blob sends nothing: containerd answers AlreadyExists to the first message.
        var called = false;
        Assert.False(await leased.Content.WriteAsync("layer-test", blob, null, (_, _) => { called = true; return Task.CompletedTask; }, null, Token));
        Assert.False(called);

        // Labels: set one, drop one, keep the others.
        var updated = await leased.Content.SetLabelsAsync(blob.Digest, new Dictionary<string, string> { ["test/other"] = "two", ["test/label"] = "" }, Token);
        Assert.Equal(new Dictionary<string, string> { ["test/other"] = "two" }, updated.Labels);

        // Another namespace does not see it.
        Assert.Null(await client.WithNamespace("elsewhere").Content.InfoAsync(blob.Digest, Token));

        await leased.Content.DeleteAsync(blob.Digest, Token);
        Assert.Null(await leased.Content.InfoAsync(blob.Digest, Token));
    }

    [Fact]
    public async Task A_write_can_start_again_from_zero_and_a_wrong_digest_is_refused_at_commit()
    {
        await using var containerd = await ContainerdFixture.StartAsync();
        using var connected = ContainerdClient.Connect(containerd.Address, "client-test");
        // Under a lease, so that containerd's garbage collector leaves the blob alone (as above).
        var client = connected.WithLease((await connected.Leases.CreateAsync("rewind-test", DateTimeOffset.UtcNow.AddHours(1), cancellationToken: Token)).Id);
        var bytes = RandomNumberGenerator.GetBytes(ContentWriteStream.MessageSize + 100);
        var blob = Descriptor.For(MediaTypes.OciLayer, bytes);

        // As the registry client does when a mirror fails halfway: rewind to 0 and write everything again.
        Assert.True(await client.Content.WriteAsync("layer-rewind", blob, null, async (stream, token) =>
        {
            await stream.WriteAsync(RandomNumberGenerator.GetBytes(ContentWriteStream.MessageSize + 7), token);
            stream.Position = 0;
            stream.SetLength(0);
            await stream.WriteAsync(bytes, token);
        }, null, Token));
        Assert.Equal(bytes, await client.Content.ReadAllAsync(blob.Digest, Token));

        var other = RandomNumberGenerator.GetBytes(1000);
        var claimed = Descriptor.For(MediaTypes.OciLayer, other) with { Digest = Digest.Compute("something else"u8) };
        var error = await Assert.ThrowsAsync<ContainerdException>(() =>
            client.Content.WriteAsync("layer-wrong", claimed, null, (stream, token) => stream.WriteAsync(other, token).AsTask(), null, Token));
        Assert.Equal(ContainerdError.FailedPrecondition, error.Error);
        Assert.Contains(claimed.Digest.Value, error.Message, StringComparison.Ordinal);
        Assert.Null(await client.Content.InfoAsync(claimed.Digest, Token));
    }

    [Fact]
    public async Task Leases_hold_what_is_written_under_them_and_images_name_content()
    {
        await using var containerd = await ContainerdFixture.StartAsync();
        using var client = ContainerdClient.Connect(containerd.Address, "client-test");
        var lease = await client.Leases.CreateAsync("test-lease", DateTimeOffset.UtcNow.AddHours(1), cancellationToken: Token);
        Assert.Equal("test-lease", lease.Id);
        Assert.Contains(LeaseManager.ExpireLabel, lease.Labels.Keys);

        var leased = client.WithLease(lease.Id);
        var bytes = "{\"schemaVersion\":2}"u8.ToArray();
        var blob = Descriptor.For(MediaTypes.OciManifest, bytes);
        Assert.True(await leased.Content.WriteAsync(ContentStore.IngestReference(blob), blob, bytes, null, Token));
        Assert.Contains(new LeaseResource("content", blob.Digest.Value), await client.Leases.ListResourcesAsync(lease.Id, Token));

        var image = await client.Images.CreateOrUpdateAsync(new ImageRecord("example.test/image:1", blob), Token);
        Assert.Equal(blob.Digest, image.Target.Digest);
        var created = await Assert.ThrowsAsync<ContainerdException>(() => client.Images.CreateAsync(new ImageRecord("example.test/image:1", blob), Token));
        Assert.True(created.IsAlreadyExists);
        var relabelled = await client.Images.CreateOrUpdateAsync(new ImageRecord("example.test/image:1", blob) { Labels = new Dictionary<string, string> { ["k"] = "v" } }, Token);
        Assert.Equal("v", relabelled.Labels["k"]);
        Assert.Equal("example.test/image:1", Assert.Single(await client.Images.ListAsync(cancellationToken: Token)).Name);

        // Without the image and the lease, containerd's GC drops the blob.
        await client.Images.DeleteAsync("example.test/image:1", sync: true, Token);
        Assert.Null(await client.Images.GetAsync("example.test/image:1", Token));
        Assert.NotNull(await client.Content.InfoAsync(blob.Digest, Token));
        await client.Leases.DeleteAsync(lease.Id, sync: true, Token);
        Assert.Empty(await client.Leases.ListAsync(cancellationToken: Token));
        Assert.Null(await client.Content.InfoAsync(blob.Digest, Token));
    }

    [Fact]
    public async Task Failures_say_which_call_and_why()
    {
        await using var containerd = await ContainerdFixture.StartAsync();
        using var client = ContainerdClient.Connect(containerd.Address, "client-test");
        var missing = await Assert.ThrowsAsync<ContainerdException>(() => client.Leases.DeleteAsync("no-such-lease", cancellationToken: Token));
        Assert.True(missing.IsNotFound);
        Assert.StartsWith("lease delete no-such-lease: ", missing.Message, StringComparison.Ordinal);
        Assert.Null(await client.Snapshots("overlayfs").StatAsync("no-such-snapshot", Token));

        using var nowhere = ContainerdClient.Connect(Path.Combine(containerd.State, "absent.sock"));
        var unreachable = await Assert.ThrowsAsync<ContainerdException>(() => nowhere.VersionAsync(Token));
        Assert.Equal(ContainerdError.Unavailable, unreachable.Error);
        Assert.Contains("not reachable at", unreachable.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ContainerdClient.Connect(containerd.Address, "bad namespace"));
    }

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
