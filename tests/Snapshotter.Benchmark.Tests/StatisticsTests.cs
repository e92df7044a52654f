using Snapshotter.Benchmark.Reporting;

namespace Snapshotter.Benchmark.Tests;

public sealed class StatisticsTests
{
    [Fact]
    public void Odd_count_median_is_the_middle_value_of_the_sorted_set()
    {
        var statistics = Statistics.Of([5.0, 1.0, 3.0]);
        Assert.Equal(new Statistics(3.0, 1.0, 5.0, 3), statistics);
    }

    [Fact]
    public void Even_count_median_is_the_mean_of_the_middle_two()
    {
        var statistics = Statistics.Of([4.0, 1.0, 10.0, 2.0]);
        Assert.Equal(new Statistics(3.0, 1.0, 10.0, 4), statistics);
    }

    [Fact]
    public void A_single_value_is_its_own_median_min_and_max()
    {
        Assert.Equal(new Statistics(7.5, 7.5, 7.5, 1), Statistics.Of([7.5]));
    }

    [Fact]
    public void Nothing_measured_has_no_statistics()
    {
        Assert.Null(Statistics.Of([]));
    }
}
