namespace Snapshotter.Estargz;

/// <summary>
/// Puts prioritized files first (with the directories above them and, for hardlinks, their
/// targets, so the tar still extracts; with recorded reads, only the files that were read), then
/// the landmark, then everything else in input order.
/// Entries named like the TOC or a landmark are dropped: converting an eStargz again must not
/// duplicate them.
/// </summary>
internal static class EntryOrder
{
    /// <summary>A tar entry to write, or (when <see cref="Item"/> is null) a landmark file to generate.</summary>
    public readonly record struct Slot(TarItem? Item, string? LandmarkName);

    public static List<Slot> Arrange(IReadOnlyList<TarItem> items, EstargzBuildOptions options)
    {
        var kept = items.Where(i => i.CanonicalName is not (EstargzConstants.TocFileName or EstargzConstants.PrefetchLandmark or EstargzConstants.NoPrefetchLandmark)).ToList();
        var byName = new Dictionary<string, TarItem>(StringComparer.Ordinal);
        foreach (var item in kept)
        {
            byName.TryAdd(item.CanonicalName, item); // the first occurrence, as a hardlink sees it
        }
        var moved = new HashSet<TarItem>(ReferenceEqualityComparer.Instance);
        var front = new List<TarItem>();
        var reads = new ReadPlan(options.PrioritizedReads);
        foreach (var requested in options.PrioritizedFiles)
        {
            // Prioritized paths are paths inside the container (e.g. recorded "/bin/sh"), so a leading "/" is the layer root.
            var name = EntryNames.Normalize(requested.TrimStart('/'), "prioritized file");
            if (!byName.TryGetValue(name, out var item))
            {
                if (options.AllowPrioritizedNotFound)
                {
                    continue;
                }
                throw new FileNotFoundException($"prioritized file '{EntryNames.Printable(requested)}' is not in the layer", requested);
            }
            if (item.Type == TocEntryTypes.Regular && !reads.WasRead(item.CanonicalName, item.Size))
            {
                continue;
            }
            Move(item, byName, moved, front, depth: 0);
        }
        var slots = new List<Slot>(kept.Count + 1);
        if (front.Count == 0)
        {
            slots.Add(new Slot(null, EstargzConstants.NoPrefetchLandmark));
        }
        else
        {
            slots.AddRange(front.Select(i => new Slot(i, null)));
            slots.Add(new Slot(null, EstargzConstants.PrefetchLandmark));
        }
        slots.AddRange(kept.Where(i => !moved.Contains(i)).Select(i => new Slot(i, null)));
        return slots;
    }

    private static void Move(TarItem item, Dictionary<string, TarItem> byName, HashSet<TarItem> moved, List<TarItem> front, int depth)
    {
        if (moved.Contains(item) || depth > 4096)
        {
            return;
        }
        // Parents first, so extracting the reordered tar creates directories before what is in them.
        var parent = EntryNames.Parent(item.CanonicalName);
        if (item.CanonicalName.Length > 0 && byName.TryGetValue(parent, out var parentItem))
        {
            Move(parentItem, byName, moved, front, depth + 1);
        }
        if (item.Type == TocEntryTypes.Hardlink && item.LinkName is { } link &&
            byName.TryGetValue(EntryNames.Normalize(link, "hardlink target"), out var target) && !ReferenceEquals(target, item))
        {
            Move(target, byName, moved, front, depth + 1);
        }
        if (moved.Add(item))
        {
            front.Add(item);
        }
    }
}
