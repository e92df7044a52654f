using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Snapshotter.Snapshots;

/// <summary>A snapshot row: the containerd record plus our directory id and stored usage.</summary>
internal sealed record SnapshotRecord(
    long Id,
    string Name,
    long? ParentId,
    string Parent,
    SnapshotKind Kind,
    DateTimeOffset Created,
    DateTimeOffset Updated,
    IReadOnlyDictionary<string, string> Labels,
    SnapshotUsage Usage)
{
    public SnapshotInfo ToInfo() => new(Name, Parent, Kind, Created, Updated, Labels);

    public bool IsRemote => Labels.ContainsKey(SnapshotLabels.Remote);
}

/// <summary>
/// Snapshot metadata in SQLite (WAL, synchronous=FULL): every mutation is one transaction, so a
/// kill -9 leaves either the old or the new record, never a half-written one. One connection,
/// serialised by a lock; callers do filesystem work inside <see cref="Write{T}"/> when it must be
/// atomic with the record.
/// </summary>
internal sealed class MetadataStore : IDisposable
{
    private const int SchemaVersion = 1;
    private const string Columns =
        "s.id, s.name, s.parent_id, coalesce(p.name, ''), s.kind, s.created, s.updated, s.labels, s.size, s.inodes";

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();
    private bool _disposed;

    public MetadataStore(string path)
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        _connection.Open();
        Execute("PRAGMA journal_mode=WAL");
        Execute("PRAGMA synchronous=FULL");
        Execute("PRAGMA foreign_keys=ON");
        Execute("PRAGMA busy_timeout=5000");
        Migrate();
    }

    /// <summary>Runs <paramref name="action"/> in an immediate transaction under the store lock; commits if it returns.</summary>
    public T Write<T>(Func<Transaction, T> action)
    {
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            var result = action(new Transaction(this, transaction));
            transaction.Commit();
            return result;
        }
    }

    /// <summary>Runs <paramref name="action"/> over a consistent snapshot of the data.</summary>
    public T Read<T>(Func<Transaction, T> action)
    {
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction(deferred: true);
            return action(new Transaction(this, transaction));
        }
    }

    public string IntegrityCheck()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "PRAGMA integrity_check";
            return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            try
            {
                Execute("PRAGMA wal_checkpoint(TRUNCATE)");
            }
            catch (SqliteException)
            {
                // A checkpoint is an optimisation; the WAL is replayed on the next open.
            }
            _connection.Dispose();
        }
    }

    private void Migrate()
    {
        using var version = _connection.CreateCommand();
        version.CommandText = "PRAGMA user_version";
        var current = Convert.ToInt32(version.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (current == SchemaVersion)
        {
            return;
        }
        if (current != 0)
        {
            throw new InvalidOperationException($"metadata schema version {current} is not supported (expected {SchemaVersion})");
        }
        using var transaction = _connection.BeginTransaction(deferred: false);
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"""
            CREATE TABLE snapshots (
              id        INTEGER PRIMARY KEY AUTOINCREMENT,
              name      TEXT NOT NULL UNIQUE,
              parent_id INTEGER NULL REFERENCES snapshots(id),
              kind      INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
              created   INTEGER NOT NULL,
              updated   INTEGER NOT NULL,
              labels    TEXT NOT NULL,
              size      INTEGER NOT NULL DEFAULT 0,
              inodes    INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX snapshots_parent ON snapshots(parent_id);
            PRAGMA user_version = {SchemaVersion};
            """;
        command.ExecuteNonQuery();
        transaction.Commit();
    }

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Queries and updates inside one transaction.</summary>
    internal sealed class Transaction(MetadataStore store, SqliteTransaction transaction)
    {
        public SnapshotRecord? Find(string name) =>
            Query($"SELECT {Columns} FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id WHERE s.name = $name",
                ("$name", name)).FirstOrDefault();

        public SnapshotRecord Get(string name) =>
            Find(name) ?? throw SnapshotException.NotFound($"snapshot {name} does not exist");

        public IReadOnlyList<SnapshotRecord> All() =>
            Query($"SELECT {Columns} FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id ORDER BY s.id");

        /// <summary>The ancestors of a snapshot, nearest first.</summary>
        public IReadOnlyList<SnapshotRecord> Ancestors(SnapshotRecord record)
        {
            var chain = new List<SnapshotRecord>();
            var parentId = record.ParentId;
            while (parentId is { } id)
            {
                var parent = Query($"SELECT {Columns} FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id WHERE s.id = $id",
                    ("$id", id)).Single();
                chain.Add(parent);
                parentId = parent.ParentId;
            }
            return chain;
        }

        public bool HasChildren(long id) =>
            Convert.ToInt64(Scalar("SELECT count(*) FROM snapshots WHERE parent_id = $id", ("$id", id)), System.Globalization.CultureInfo.InvariantCulture) > 0;

        public long Insert(string name, long? parentId, SnapshotKind kind, DateTimeOffset now, IReadOnlyDictionary<string, string> labels)
        {
            var ticks = now.UtcTicks;
            return Convert.ToInt64(Scalar("""
                INSERT INTO snapshots (name, parent_id, kind, created, updated, labels)
                VALUES ($name, $parent, $kind, $now, $now, $labels) RETURNING id
                """,
                ("$name", name), ("$parent", parentId), ("$kind", (int)kind), ("$now", ticks), ("$labels", Serialize(labels))),
                System.Globalization.CultureInfo.InvariantCulture);
        }

        /// <summary>Turns an active record into a committed one under a new name (same id and directory).</summary>
        public void Commit(long id, string name, DateTimeOffset now, IReadOnlyDictionary<string, string> labels, SnapshotUsage usage) =>
            NonQuery("""
                UPDATE snapshots SET name = $name, kind = $kind, created = $now, updated = $now, labels = $labels,
                  size = $size, inodes = $inodes WHERE id = $id
                """,
                ("$id", id), ("$name", name), ("$kind", (int)SnapshotKind.Committed), ("$now", now.UtcTicks),
                ("$labels", Serialize(labels)), ("$size", usage.Size), ("$inodes", usage.Inodes));

        public void UpdateLabels(long id, IReadOnlyDictionary<string, string> labels, DateTimeOffset now) =>
            NonQuery("UPDATE snapshots SET labels = $labels, updated = $now WHERE id = $id",
                ("$id", id), ("$labels", Serialize(labels)), ("$now", now.UtcTicks));

        public void Delete(long id) => NonQuery("DELETE FROM snapshots WHERE id = $id", ("$id", id));

        public IReadOnlySet<long> Ids() => All().Select(r => r.Id).ToHashSet();

        private List<SnapshotRecord> Query(string sql, params (string Name, object? Value)[] parameters)
        {
            using var command = Command(sql, parameters);
            using var reader = command.ExecuteReader();
            var records = new List<SnapshotRecord>();
            while (reader.Read())
            {
                records.Add(new SnapshotRecord(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetInt64(2),
                    reader.GetString(3),
                    (SnapshotKind)reader.GetInt32(4),
                    new DateTimeOffset(reader.GetInt64(5), TimeSpan.Zero),
                    new DateTimeOffset(reader.GetInt64(6), TimeSpan.Zero),
                    JsonSerializer.Deserialize(reader.GetString(7), LabelsJson.Default.DictionaryStringString) ?? [],
                    new SnapshotUsage(reader.GetInt64(8), reader.GetInt64(9))));
            }
            return records;
        }

        private object? Scalar(string sql, params (string Name, object? Value)[] parameters)
        {
            using var command = Command(sql, parameters);
            return command.ExecuteScalar();
        }

        private void NonQuery(string sql, params (string Name, object? Value)[] parameters)
        {
            using var command = Command(sql, parameters);
            command.ExecuteNonQuery();
        }

        private SqliteCommand Command(string sql, (string Name, object? Value)[] parameters)
        {
            var command = store._connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            }
            return command;
        }

        private static string Serialize(IReadOnlyDictionary<string, string> labels) =>
            JsonSerializer.Serialize(labels.OrderBy(l => l.Key, StringComparer.Ordinal).ToDictionary(l => l.Key, l => l.Value), LabelsJson.Default.DictionaryStringString);
    }
}
