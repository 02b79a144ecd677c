using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>The cos/sin table: layout, range, and the 1-ulp accuracy against exact angles.</summary>
public class TableTests
{
    [Fact]
    public void WorkedExampleDim4End3MatchesPrecomputeFreqsCis()
    {
        var table = RopeTable.Create(rotaryDim: 4, positionCount: 3);

        // ω = [1, 1/sqrt(10000)]; rows are (cos, sin) per pair for t = 0, 1, 2.
        float[] expected =
        [
            1, 0, 1, 0,
            (float)Math.Cos(1), (float)Math.Sin(1), (float)Math.Cos(0.01), (float)Math.Sin(0.01),
            (float)Math.Cos(2), (float)Math.Sin(2), (float)Math.Cos(0.02), (float)Math.Sin(0.02),
        ];
        Assert.Equal(expected, table.Rows.ToArray());
        Assert.Equal(4, table.RowLength);
        Assert.Equal(3, table.EndPosition);
        Assert.Equal(expected.AsSpan(4, 4).ToArray(), table.GetRow(1).ToArray());
    }

    [Fact]
    public void DefaultBaseIsTheClassicTenThousand()
    {
        Assert.Equal(10000.0, RopeFrequencies.DefaultBase);
        Assert.Equal(RopeReference.InverseFrequencies(128, 10000), RopeFrequencies.Create(128).InverseFrequencies.ToArray());
        Assert.Equal(RopeReference.InverseFrequencies(96, 500000), RopeFrequencies.Create(96, 500000).InverseFrequencies.ToArray());
    }

    [Theory]
    [InlineData(128, 10000.0)]
    [InlineData(128, 500000.0)]
    [InlineData(96, 1000000.0)]
    [InlineData(6, 10000.0)]
    public void EveryEntryIsWithinOneUlpOfTheExactAngle(int rotaryDim, double @base)
    {
        var frequencies = RopeFrequencies.Create(rotaryDim, @base);
        var random = new Random(rotaryDim);
        int[] starts = [0, 1 << 20, (1 << 24) - 64, int.MaxValue - 63, random.Next(1 << 20), random.Next(1 << 30)];
        var rows = new float[64 * rotaryDim];
        double worst = 0;
        foreach (int start in starts)
        {
            RopeTable.Fill(frequencies, start, 64, rows);
            worst = Math.Max(worst, WorstUlpError(frequencies, start, rows, 64));
        }

        Assert.True(worst <= 1.0, $"largest error {worst:F3} ulp");
    }

    [Fact]
    public void EntriesNearZeroStayAccurateUpToTwoToTheTwenty()
    {
        // Where p·ω lands close to a multiple of π/2, cos or sin is tiny and its ulp is tiny too: a table that forms
        // the angle in plain double is off by many ulps there. Scan every position below 2^20 for such entries.
        var frequencies = RopeFrequencies.Create(16);
        const int Positions = 1 << 20;
        var table = RopeTable.Create(frequencies, 0, Positions);
        ReadOnlySpan<float> rows = table.Rows;
        ReadOnlySpan<double> omega = frequencies.InverseFrequencies;
        int checkedEntries = 0;
        double worst = 0;
        for (int position = 0; position < Positions; position++)
        {
            for (int pair = 0; pair < omega.Length; pair++)
            {
                int index = position * 16 + 2 * pair;
                if (Math.Abs(rows[index]) < 1e-5f || Math.Abs(rows[index + 1]) < 1e-5f)
                {
                    (double cos, double sin) = ExactTrig.CosSin(position, omega[pair]);
                    worst = Math.Max(worst, Math.Max(ExactTrig.UlpError(rows[index], cos), ExactTrig.UlpError(rows[index + 1], sin)));
                    checkedEntries++;
                }
            }
        }

        Assert.True(checkedEntries > 100, $"only {checkedEntries} near-zero entries found");
        Assert.True(worst <= 1.0, $"largest error {worst:F3} ulp over {checkedEntries} near-zero entries");
    }

    [Fact]
    public void TableRowsEqualFillAndCoverTheirRange()
    {
        var frequencies = RopeFrequencies.Create(80, 10000);
        var table = RopeTable.Create(frequencies, 1000, 50);
        var filled = new float[50 * 80 + 3];
        filled.AsSpan(^3).Fill(-1);
        RopeTable.Fill(frequencies, 1000, 50, filled);

        Assert.Equal(table.Rows.ToArray(), filled[..^3]);
        Assert.Equal([-1f, -1f, -1f], filled[^3..]);
        Assert.True(table.Contains(1000) && table.Contains(1049));
        Assert.False(table.Contains(999) || table.Contains(1050));
        Assert.Equal(table.Rows.Slice(49 * 80, 80).ToArray(), table.GetRow(1049).ToArray());
        Assert.True(table.Memory.Span == table.Rows);
    }

    [Fact]
    public void ExplicitFrequenciesIncludingZeroAreHonoured()
    {
        var frequencies = RopeFrequencies.FromInverseFrequencies([0.5, 0.0, 3.0]);
        var table = RopeTable.Create(frequencies, 0, 10);

        Assert.Equal(6, frequencies.RotaryDim);
        Assert.InRange(WorstUlpError(frequencies, 0, table.Rows, 10), 0, 1.0);
        Assert.Equal([1f, 0f], table.GetRow(9).Slice(2, 2).ToArray());
    }

    private static double WorstUlpError(RopeFrequencies frequencies, int start, ReadOnlySpan<float> rows, int count)
    {
        ReadOnlySpan<double> omega = frequencies.InverseFrequencies;
        double worst = 0;
        for (int row = 0; row < count; row++)
        {
            for (int pair = 0; pair < omega.Length; pair++)
            {
                (double cos, double sin) = ExactTrig.CosSin((long)start + row, omega[pair]);
                int index = row * frequencies.RotaryDim + 2 * pair;
                worst = Math.Max(worst, Math.Max(ExactTrig.UlpError(rows[index], cos), ExactTrig.UlpError(rows[index + 1], sin)));
            }
        }

        return worst;
    }
}
