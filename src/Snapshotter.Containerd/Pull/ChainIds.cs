using System.Text;
using Snapshotter.Oci;

namespace Snapshotter.Containerd.Pull;

/// <summary>
/// OCI chain IDs, the names of committed layer snapshots: the first layer's is its diff id, each
/// next one is <c>sha256(parent chain ID + " " + diff id)</c> (image-spec <c>identity.ChainID</c>).
/// </summary>
public static class ChainIds
{
    public static IReadOnlyList<Digest> Compute(IReadOnlyList<Digest> diffIds)
    {
        ArgumentNullException.ThrowIfNull(diffIds);
        var chain = new List<Digest>(diffIds.Count);
        foreach (var diffId in diffIds)
        {
            chain.Add(chain.Count == 0 ? diffId : Digest.Compute(Encoding.ASCII.GetBytes($"{chain[^1].Value} {diffId.Value}")));
        }
        return chain;
    }
}
