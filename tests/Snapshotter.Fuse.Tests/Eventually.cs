namespace Snapshotter.Fuse.Tests;

internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test after 10 s.</summary>
    public static async Task True(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + ProtocolHarness.Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }
}
