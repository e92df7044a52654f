namespace Snapshotter.Fs.Fetching;

/// <summary>
/// How much one layer reads ahead after a miss, adapted to its reads. The window doubles (up to
/// <see cref="FetchOptions.ReadAheadBytes"/>) when a read finds a member that read-ahead brought or
/// is bringing, and when a miss lands within the largest window after a recent miss (a larger
/// read-ahead would have brought it: Python importing the modules of one package directory). It
/// halves (down to <see cref="MinimumBytes"/>) when misses keep landing far from each other with
/// nothing read-ahead brought read between them (a chain of small reads across the layer, as a
/// web server's start), so that the next miss does not wait behind bytes nobody reads.
/// </summary>
internal sealed class ReadAheadWindow
{
    /// <summary>The smallest window: it keeps probing whether reading ahead pays again.</summary>
    public const long MinimumBytes = 64 * 1024;

    private const int RecentMisses = 8;

    private readonly long _maximum;
    private readonly long[] _brought; // members read-ahead brought or is bringing, not read since
    private readonly long[] _recentMisses = new long[RecentMisses]; // compressed offsets; guarded by the reader's lock
    private int _misses;
    private int _farMisses;
    private long _bytes;
    private int _readsSinceMiss;
    private bool _issuedAtLastMiss;

    public ReadAheadWindow(int members, long startBytes, long maximumBytes)
    {
        _maximum = maximumBytes;
        _bytes = Math.Clamp(startBytes, Math.Min(MinimumBytes, maximumBytes), maximumBytes);
        _brought = new long[(members + 63) / 64];
    }

    /// <summary>The read-ahead a miss sends now, in compressed bytes.</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>A read of <paramref name="member"/> (served or joined): grows the window if read-ahead brought it. True for the first read of a member it brought.</summary>
    public bool Read(int member)
    {
        var bit = 1L << (member & 63);
        ref var word = ref _brought[member >> 6];
        if ((Volatile.Read(ref word) & bit) == 0 || (Interlocked.And(ref word, ~bit) & bit) == 0)
        {
            return false;
        }
        Interlocked.Increment(ref _readsSinceMiss);
        long current, grown;
        do
        {
            current = Volatile.Read(ref _bytes);
            grown = Math.Min(_maximum, current * 2);
        }
        while (grown != current && Interlocked.CompareExchange(ref _bytes, grown, current) != current);
        return true;
    }

    /// <summary>
    /// A miss of the member at compressed <paramref name="offset"/>: grows the window if a recent miss
    /// lies within the largest window before it, shrinks it after two far misses in a row with no
    /// read of what read-ahead brought since the last one. Caller holds the reader's lock.
    /// </summary>
    public void Missed(long offset)
    {
        var near = false;
        for (var i = 0; i < Math.Min(_misses, RecentMisses); i++)
        {
            near |= _recentMisses[i] < offset && offset - _recentMisses[i] <= _maximum;
        }
        _recentMisses[_misses++ % RecentMisses] = offset;
        var readsSinceMiss = Interlocked.Exchange(ref _readsSinceMiss, 0);
        var unread = _issuedAtLastMiss && readsSinceMiss == 0;
        _issuedAtLastMiss = false;
        var current = Volatile.Read(ref _bytes);
        if (near)
        {
            _farMisses = 0;
            Volatile.Write(ref _bytes, Math.Min(_maximum, current * 2));
        }
        else if (unread && ++_farMisses >= 2)
        {
            Volatile.Write(ref _bytes, Math.Max(Math.Min(MinimumBytes, _maximum), current / 2));
        }
    }

    /// <summary>Read-ahead of members [<paramref name="first"/>, <paramref name="last"/>] was sent at this miss. Caller holds the reader's lock.</summary>
    public void Issued(int first, int last)
    {
        _issuedAtLastMiss = true;
        for (var member = first; member <= last; member++)
        {
            Interlocked.Or(ref _brought[member >> 6], 1L << (member & 63));
        }
    }
}
