using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// The documented guarantee for 16-bit rotation: with y the double reference for an element and
/// E = 3·2^-23·max(|a|, |b|) + 2^-147 (the bound on the float32 result's error), the element equals y rounded to the
/// type, unless rounding y − E and y + E gives different values; then it lies between those two values.
/// Pass-through elements are unchanged; NaN where the reference is NaN, the same infinity where it is infinite.
/// </summary>
public static class PackedOracle
{
    public const double Epsilons = 3.0;
    private static readonly double SubnormalSlack = Math.ScaleB(1, -147);

    /// <summary>Asserts the guarantee and returns the largest error seen in units in the last place of the type.</summary>
    public static double AssertRounded(PackedType type, ushort[] input, ushort[] actual, ReadOnlySpan<int> positions,
        RopeTable table, int heads, int headDim, RopeLayout layout, bool inverse, string context) =>
        AssertRounded(type, input, actual, Expected(type, input, positions, table, heads, headDim, layout, inverse),
            headDim, table.RotaryDim, layout, context);

    public static double[] Expected(PackedType type, ushort[] input, ReadOnlySpan<int> positions, RopeTable table,
        int heads, int headDim, RopeLayout layout, bool inverse)
    {
        var expected = new double[input.Length];
        RopeReference.Rotate(PackedElements.Widen(type, input), expected, heads, headDim, positions,
            table.Frequencies.InverseFrequencies, layout, inverse);
        return expected;
    }

    public static double AssertRounded(PackedType type, ushort[] input, ushort[] actual, double[] expected,
        int headDim, int rotaryDim, RopeLayout layout, string context)
    {
        Assert.Equal(input.Length, actual.Length);
        int pairs = rotaryDim / 2;
        double worst = 0;
        for (int head = 0; head < input.Length / headDim; head++)
        {
            int start = head * headDim;
            for (int pair = 0; pair < pairs; pair++)
            {
                int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                double magnitude = Math.Max(Math.Abs(PackedElements.Widen(type, input[first])), Math.Abs(PackedElements.Widen(type, input[second])));
                double bound = Epsilons * Math.ScaleB(magnitude, -23) + SubnormalSlack;
                foreach (int index in (ReadOnlySpan<int>)[first, second])
                {
                    worst = Math.Max(worst, Check(type, actual[index], expected[index], bound, $"{context}: head {head} pair {pair} element {index}"));
                }
            }

            for (int index = start + rotaryDim; index < start + headDim; index++)
            {
                Assert.True(actual[index] == input[index], $"{context}: pass-through element {index} changed from 0x{input[index]:X4} to 0x{actual[index]:X4}.");
            }
        }

        return worst;
    }

    private static double Check(PackedType type, ushort actual, double expected, double bound, string where)
    {
        double value = PackedElements.Widen(type, actual);
        if (double.IsNaN(expected))
        {
            Assert.True(double.IsNaN(value), $"{where}: expected NaN, got {value}.");
            return 0;
        }

        if (double.IsInfinity(expected))
        {
            Assert.True(value == expected, $"{where}: expected {expected}, got {value}.");
            return 0;
        }

        ushort low = PackedElements.Round(type, expected - bound), high = PackedElements.Round(type, expected + bound);
        if (low == high)
        {
            ushort rounded = PackedElements.Round(type, expected);
            Assert.True(actual == rounded, $"{where}: got 0x{actual:X4} ({value:R}), expected 0x{rounded:X4}, the rounding of {expected:R}.");
        }
        else
        {
            double lowValue = PackedElements.Widen(type, low), highValue = PackedElements.Widen(type, high);
            Assert.True(value >= lowValue && value <= highValue,
                $"{where}: got {value:R}, outside [{lowValue:R}, {highValue:R}] around {expected:R} ± {bound:E3}.");
        }

        return double.IsInfinity(value) ? 0 : Math.Abs(value - expected) / PackedElements.Ulp(type, Math.Abs(expected));
    }
}
