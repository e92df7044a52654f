namespace Snapshotter.Cache.Tests;

internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds (background compaction, a periodic GC); fails after 20 s.</summary>
    public static async Task True(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 20 s");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }
}
