using System.Net;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Registry.Tests;

/// <summary>Against a real docker-registry (CNCF distribution) on loopback, without auth.</summary>
public sealed class RegistryIntegrationTests : IAsyncLifetime
{
    private DockerRegistryFixture _registry = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _registry = await DockerRegistryFixture.StartAsync();

    public async ValueTask DisposeAsync() => await _registry.DisposeAsync();

    private static RegistryClient NewClient() => new(new RegistryClientOptions { UseDockerConfig = false });

    private ImageReference Ref(string repositoryAndTag) => ImageReference.Parse($"{_registry.Host}/{repositoryAndTag}");

    [Fact]
    public async Task Pushed_image_resolves_by_tag_and_by_digest_and_its_blobs_read_back()
    {
        using var client = NewClient();
        var image = TestImage.Create(1);
        await image.PushAsync(client, Ref("app:v1"), cancellationToken: Token);

        var resolved = await client.ResolveAsync(Ref("app:v1"), cancellationToken: Token);
        Assert.Equal(image.ManifestDigest, resolved.Reference.Digest);
        Assert.Equal(image.ManifestBytes, resolved.ManifestBytes);
        Assert.Null(resolved.Index);
        Assert.Equal(MediaTypes.OciManifest, resolved.Target.MediaType);
        Assert.Equal(image.Manifest.Layers.Select(l => l.Digest), resolved.Manifest.Layers.Select(l => l.Digest));

        var byDigest = await client.ResolveAsync(Ref("app@" + image.ManifestDigest), cancellationToken: Token);
        Assert.Equal(image.ManifestDigest, byDigest.ManifestDescriptor.Digest);

        var config = ImageConfig.Parse(await client.GetBlobAsync(Ref("app"), resolved.Manifest.Config, Token));
        Assert.Equal(image.Manifest.Layers.Select(l => l.Digest), config.DiffIds);

        using var copy = new MemoryStream();
        await client.CopyBlobAsync(Ref("app"), resolved.Manifest.Layers[0], copy, Token);
        Assert.Equal(image.Layers[0], copy.ToArray());
    }

    [Fact]
    public async Task Ranged_reads_single_and_multi_range_return_the_right_bytes()
    {
        using var client = NewClient();
        var image = TestImage.Create(2, null, 1 << 20);
        await image.PushAsync(client, Ref("ranges:v1"), cancellationToken: Token);
        var layer = image.Layers[0];
        var blob = client.OpenBlob(Ref("ranges"), image.Manifest.Layers[0]);
        Assert.Equal(layer.Length, blob.Size);

        var single = new byte[4096];
        await blob.ReadAsync([new BlobRange(123_456, single)], Token);
        Assert.Equal(layer.AsSpan(123_456, 4096).ToArray(), single);

        // Several ranges in one request (multipart/byteranges from Go's ServeContent), out of order and overlapping.
        var offsets = new long[] { 900_000, 0, 500_000, 500_100, layer.Length - 51 };
        var buffers = offsets.Select(o => new byte[(int)Math.Min(1000, layer.Length - o)]).ToArray();
        await blob.ReadAsync(offsets.Select((o, i) => new BlobRange(o, buffers[i])).ToList(), Token);
        for (var i = 0; i < offsets.Length; i++)
        {
            Assert.Equal(layer.AsSpan((int)offsets[i], buffers[i].Length).ToArray(), buffers[i]);
        }
        await blob.CheckAsync(Token);
        Assert.False(((Blobs.RangedBlob)blob).SingleRangeOnly);
        // The loopback registry answered over plain http after the https attempt: no redirect is remembered.
        Assert.Null(((Blobs.RangedBlob)blob).Location);
    }

    [Fact]
    public async Task A_range_outside_the_blob_is_refused_before_any_request()
    {
        using var client = NewClient();
        var descriptor = Descriptor.For(MediaTypes.OciLayer, new byte[10]);
        var blob = client.OpenBlob(Ref("nothing"), descriptor);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => blob.ReadAsync([new BlobRange(5, new byte[6])], Token));
    }

    [Fact]
    public async Task Index_resolves_to_the_requested_platform()
    {
        using var client = NewClient();
        var amd64 = TestImage.Create(3, Platform.Parse("linux/amd64"), 1000);
        var arm64 = TestImage.Create(4, Platform.Parse("linux/arm64"), 2000);
        await amd64.PushAsync(client, Ref("multi:amd64"), cancellationToken: Token);
        await arm64.PushAsync(client, Ref("multi:arm64"), cancellationToken: Token);
        var index = new ImageIndex
        {
            Manifests =
            [
                Descriptor.For(MediaTypes.OciManifest, amd64.ManifestBytes) with { Platform = amd64.Platform },
                Descriptor.For(MediaTypes.OciManifest, arm64.ManifestBytes) with { Platform = arm64.Platform },
            ],
        };
        var indexDigest = await client.PushManifestAsync(Ref("multi:latest"), MediaTypes.OciIndex, index.ToJsonBytes(), Token);

        var resolved = await client.ResolveAsync(Ref("multi:latest"), Platform.Parse("linux/aarch64"), Token);
        Assert.Equal(indexDigest, resolved.Reference.Digest);
        Assert.NotNull(resolved.Index);
        Assert.Equal(arm64.ManifestDigest, resolved.ManifestDescriptor.Digest);
        Assert.Equal(arm64.ManifestBytes, resolved.ManifestBytes);
        Assert.Equal(Platform.Parse("linux/arm64"), resolved.ManifestDescriptor.Platform);

        var other = await client.ResolveAsync(Ref("multi:latest"), Platform.Parse("linux/x86_64"), Token);
        Assert.Equal(amd64.ManifestDigest, other.ManifestDescriptor.Digest);

        await Assert.ThrowsAsync<PlatformNotFoundException>(() => client.ResolveAsync(Ref("multi:latest"), Platform.Parse("linux/s390x"), Token));
    }

    [Fact]
    public async Task Docker_schema2_manifests_are_accepted()
    {
        using var client = NewClient();
        var image = TestImage.Create(5, null, 5000);
        var docker = image.Manifest with
        {
            MediaType = MediaTypes.DockerManifest,
            Config = image.Manifest.Config with { MediaType = MediaTypes.DockerConfig },
            Layers = [image.Manifest.Layers[0] with { MediaType = MediaTypes.DockerLayerGzip }],
        };
        await client.PushBlobAsync(Ref("docker"), docker.Config, () => new MemoryStream(image.Config), cancellationToken: Token);
        await client.PushBlobAsync(Ref("docker"), docker.Layers[0], () => new MemoryStream(image.Layers[0]), cancellationToken: Token);
        await client.PushManifestAsync(Ref("docker:v2"), MediaTypes.DockerManifest, docker.ToJsonBytes(), Token);

        var resolved = await client.ResolveAsync(Ref("docker:v2"), cancellationToken: Token);
        Assert.Equal(MediaTypes.DockerManifest, resolved.Target.MediaType);
        Assert.Equal(MediaTypes.DockerLayerGzip, resolved.Manifest.Layers[0].MediaType);
    }

    [Fact]
    public async Task Missing_manifests_and_blobs_fail_naming_registry_repository_and_status()
    {
        using var client = NewClient();
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.ResolveAsync(Ref("absent:nope"), cancellationToken: Token));
        Assert.True(error.IsNotFound);
        Assert.Contains(_registry.Host, error.Message);
        Assert.Contains("absent", error.Message);
        Assert.Contains("404", error.Message);

        var missing = Descriptor.For(MediaTypes.OciLayer, "never pushed"u8);
        var blobError = await Assert.ThrowsAsync<RegistryException>(() => client.GetBlobAsync(Ref("absent"), missing, Token));
        Assert.Equal(HttpStatusCode.NotFound, blobError.StatusCode);
        Assert.Contains(missing.Digest.Value, blobError.Message);
        Assert.Contains("BLOB_UNKNOWN", blobError.Message);
    }

    [Fact]
    public async Task Push_skips_existing_blobs_mounts_across_repositories_and_uploads_in_chunks()
    {
        using var client = NewClient();
        var image = TestImage.Create(6, null, 200_000);
        await image.PushAsync(client, Ref("source:v1"), cancellationToken: Token);
        var layer = image.Manifest.Layers[0];
        Assert.True(await client.BlobExistsAsync(Ref("source"), layer.Digest, Token));
        Assert.False(await client.BlobExistsAsync(Ref("target"), layer.Digest, Token));

        // An existing blob is not uploaded again: a content stream that throws proves it is never opened.
        Assert.Equal(BlobPushResult.Existed, await client.PushBlobAsync(Ref("source"), layer, () => throw new InvalidOperationException("opened"), cancellationToken: Token));

        // Cross-repository mount: the registry links the blob without any upload.
        Assert.Equal(BlobPushResult.Mounted,
            await client.PushBlobAsync(Ref("target"), layer, () => throw new InvalidOperationException("opened"), new BlobPushOptions { MountFrom = "source" }, Token));
        Assert.True(await client.BlobExistsAsync(Ref("target"), layer.Digest, Token));

        // A mount on its own: true when linked, false (and nothing stored) when the source lacks the blob.
        Assert.True(await client.MountBlobAsync(Ref("mounted"), image.ConfigDescriptor.Digest, "source", Token));
        Assert.True(await client.BlobExistsAsync(Ref("mounted"), image.ConfigDescriptor.Digest, Token));
        var absent = Digest.Compute("in no repository"u8);
        Assert.False(await client.MountBlobAsync(Ref("mounted"), absent, "source", Token));
        Assert.False(await client.BlobExistsAsync(Ref("mounted"), absent, Token));

        // Deleting by digest removes the manifest (and so its tag).
        await client.DeleteManifestAsync(Ref("source").WithDigest(image.ManifestDigest), Token);
        Assert.True((await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync(Ref("source:v1"), Token))).IsNotFound);

        // Chunked PATCH upload, the last chunk short.
        var chunked = TestImage.Create(7, null, 150_001);
        await chunked.PushAsync(client, Ref("chunked:v1"), new BlobPushOptions { ChunkSize = 64 << 10 }, Token);
        var back = await client.GetBlobAsync(Ref("chunked"), chunked.Manifest.Layers[0], Token);
        Assert.Equal(chunked.Layers[0], back);
    }

    [Fact]
    public async Task A_blob_pushed_under_a_wrong_digest_is_rejected_by_the_registry()
    {
        using var client = NewClient();
        var content = "the real content"u8.ToArray();
        var lie = Descriptor.For(MediaTypes.OciLayer, "other content..."u8);
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PushBlobAsync(Ref("lies"), lie, () => new MemoryStream(content), cancellationToken: Token));
        Assert.Contains("DIGEST_INVALID", error.Message);
        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);

        var wrongSize = Descriptor.For(MediaTypes.OciLayer, "longer than the content"u8);
        error = await Assert.ThrowsAsync<RegistryException>(() => client.PushBlobAsync(Ref("lies"), wrongSize, () => new MemoryStream(content), cancellationToken: Token));
        Assert.Contains("16 bytes", error.Message);
        Assert.Contains("23", error.Message);
    }

    [Fact]
    public async Task Connections_are_reused_across_many_parallel_ranged_reads()
    {
        using var client = NewClient();
        var image = TestImage.Create(8, null, 512 << 10);
        await image.PushAsync(client, Ref("parallel:v1"), cancellationToken: Token);
        var blob = client.OpenBlob(Ref("parallel"), image.Manifest.Layers[0]);
        var tasks = Enumerable.Range(0, 64).Select(async i =>
        {
            var buffer = new byte[4096];
            await blob.ReadAsync([new BlobRange(i * 8192L, buffer)], Token);
            Assert.Equal(image.Layers[0].AsSpan(i * 8192, 4096).ToArray(), buffer);
        });
        await Task.WhenAll(tasks);
    }
}
