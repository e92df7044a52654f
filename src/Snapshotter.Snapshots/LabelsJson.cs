using System.Text.Json.Serialization;

namespace Snapshotter.Snapshots;

/// <summary>
/// Snapshot labels as stored in the metadata database, with source-generated metadata: the
/// reflection serializer JIT-compiled a few dozen converter methods in a daemon's first pull.
/// </summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class LabelsJson : JsonSerializerContext;
