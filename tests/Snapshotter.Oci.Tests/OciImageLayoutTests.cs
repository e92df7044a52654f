using System.Text;
using Snapshotter.Oci;
using Snapshotter.Testing;

namespace Snapshotter.Oci.Tests;

public class OciImageLayoutTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_writes_the_marker_and_an_empty_index()
    {
        using var dir = new TempDirectory("oci-layout");
        var layout = await OciImageLayout.CreateAsync(dir.Path, Token);
        Assert.Equal("""{"imageLayoutVersion":"1.0.0"}""", await File.ReadAllTextAsync(dir.Combine("oci-layout"), Token));
        Assert.Empty((await layout.ReadIndexAsync(Token)).Manifests);
        Assert.True(Directory.Exists(dir.Combine("blobs", "sha256")));
    }

    [Fact]
    public async Task Open_rejects_a_directory_that_is_not_a_layout()
    {
        using var dir = new TempDirectory("oci-layout");
        var error = await Assert.ThrowsAsync<FormatException>(() => OciImageLayout.OpenAsync(dir.Path, Token));
        Assert.Contains("not an OCI image layout", error.Message);
        await File.WriteAllTextAsync(dir.Combine("oci-layout"), """{"imageLayoutVersion":"2.0.0"}""", Token);
        error = await Assert.ThrowsAsync<FormatException>(() => OciImageLayout.OpenAsync(dir.Path, Token));
        Assert.Contains("2.0.0", error.Message);
    }

    [Fact]
    public async Task An_image_written_to_the_layout_reads_back_verified()
    {
        using var dir = new TempDirectory("oci-layout");
        var layout = await OciImageLayout.CreateAsync(dir.Path, Token);
        var layerBytes = Encoding.ASCII.GetBytes("pretend this is a gzip tar");
        var layer = await layout.WriteBlobAsync(MediaTypes.OciLayerGzip, new MemoryStream(layerBytes), Digest.Compute(layerBytes), Token);
        var config = ImageConfig.Create(Platform.Parse("linux/amd64"), [Digest.Compute("diff"u8)]);
        var configDescriptor = await layout.WriteBlobAsync(MediaTypes.OciConfig, config.ToJsonBytes(), Token);
        var manifest = new ImageManifest { Config = configDescriptor, Layers = [layer] };
        var manifestDescriptor = await layout.AddManifestAsync(MediaTypes.OciManifest, manifest.ToJsonBytes(), "v1", Platform.Parse("linux/amd64"), Token);

        var reopened = await OciImageLayout.OpenAsync(dir.Path, Token);
        var found = await reopened.FindManifestAsync("v1", Token);
        Assert.Equal(manifestDescriptor.Digest, found.Digest);
        Assert.Equal("v1", found.Annotation(OciImageLayout.RefNameAnnotation));
        var readManifest = ImageManifest.Parse(await reopened.ReadBlobAsync(found.Digest, Token));
        Assert.Equal(layerBytes, await reopened.ReadBlobAsync(readManifest.Layers[0].Digest, Token));
        Assert.Equal(layerBytes.Length, readManifest.Layers[0].Size);
        Assert.True(File.Exists(dir.Combine("blobs", "sha256", layer.Digest.Hex)));

        // Adding under the same name replaces the entry instead of listing it twice.
        await reopened.AddManifestAsync(MediaTypes.OciManifest, (manifest with { Annotations = new Dictionary<string, string> { ["a"] = "b" } }).ToJsonBytes(), "v1", cancellationToken: Token);
        Assert.Single((await reopened.ReadIndexAsync(Token)).Manifests);
        Assert.NotEqual(found.Digest, (await reopened.FindManifestAsync(cancellationToken: Token)).Digest);
    }

    [Fact]
    public async Task A_stream_with_the_wrong_digest_is_not_stored()
    {
        using var dir = new TempDirectory("oci-layout");
        var layout = await OciImageLayout.CreateAsync(dir.Path, Token);
        var wrong = Digest.Compute("other"u8);
        await Assert.ThrowsAsync<DigestMismatchException>(() =>
            layout.WriteBlobAsync(MediaTypes.OciLayer, new MemoryStream("content"u8.ToArray()), wrong, Token));
        Assert.Empty(Directory.GetFiles(dir.Combine("blobs", "sha256")));
    }

    [Fact]
    public async Task A_corrupted_blob_fails_verification_and_a_missing_one_names_the_digest()
    {
        using var dir = new TempDirectory("oci-layout");
        var layout = await OciImageLayout.CreateAsync(dir.Path, Token);
        var descriptor = await layout.WriteBlobAsync(MediaTypes.OciLayer, "content"u8.ToArray(), Token);
        await File.WriteAllTextAsync(layout.BlobPath(descriptor.Digest), "tampered", Token);
        await Assert.ThrowsAsync<DigestMismatchException>(() => layout.ReadBlobAsync(descriptor.Digest, Token));
        var missing = Digest.Compute("missing"u8);
        var error = await Assert.ThrowsAsync<FileNotFoundException>(() => layout.ReadBlobAsync(missing, Token));
        Assert.Contains(missing.Value, error.Message);
        Assert.Throws<FileNotFoundException>(() => layout.OpenBlob(missing));
    }
}
