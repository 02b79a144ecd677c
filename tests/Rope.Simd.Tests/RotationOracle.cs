using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Compares a path's float32 output with <see cref="RopeReference"/> under the documented bound:
/// each rotated element within <see cref="Epsilons"/>·2^-23·max(|a|, |b|) of the double result for its input pair (a, b),
/// plus a few subnormal units; pass-through elements bit-identical; NaN where the reference is NaN, the same infinity
/// where it is infinite.
/// </summary>
public static class RotationOracle
{
    public const double Epsilons = 2.0;
    private const double FloatEpsilon = 1.0 / (1 << 23);
    private const double SubnormalSlack = 4 * 1.401298464324817e-45;

    /// <summary>Packed [tokens][heads][headDim] expected result of rotating <paramref name="input"/>.</summary>
    public static double[] Expected(float[] input, int heads, int headDim, ReadOnlySpan<int> positions,
        RopeTable table, RopeLayout layout, bool inverse)
    {
        var expected = new double[input.Length];
        RopeReference.Rotate(input, expected, heads, headDim, positions, table.Frequencies.InverseFrequencies, layout, inverse);
        return expected;
    }

    /// <summary>Asserts the bound (scaled by <paramref name="boundScale"/>) and returns the largest error seen, in units of 2^-23·M.</summary>
    public static double AssertClose(ReadOnlySpan<float> input, ReadOnlySpan<float> actual, ReadOnlySpan<double> expected,
        int headDim, int rotaryDim, RopeLayout layout, string context, double boundScale = 1.0)
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
                double magnitude = Math.Max(Math.Abs((double)input[first]), Math.Abs((double)input[second]));
                double bound = boundScale * (Epsilons * FloatEpsilon * magnitude + SubnormalSlack);
                foreach (int index in (ReadOnlySpan<int>)[first, second])
                {
                    double error = Check(actual[index], expected[index], bound, context, head, pair, index);
                    if (magnitude > 0 && double.IsFinite(error))
                    {
                        worst = Math.Max(worst, error / (FloatEpsilon * magnitude));
                    }
                }
            }

            for (int index = start + rotaryDim; index < start + headDim; index++)
            {
                if (BitConverter.SingleToInt32Bits(actual[index]) != BitConverter.SingleToInt32Bits(input[index]))
                {
                    Assert.Fail($"{context}: pass-through element {index} changed from {input[index]} to {actual[index]}.");
                }
            }
        }

        return worst;
    }

    private static double Check(float actual, double expected, double bound, string context, int head, int pair, int index)
    {
        if (double.IsNaN(expected))
        {
            Assert.True(float.IsNaN(actual), $"{context}: head {head} pair {pair} element {index}: expected NaN, got {actual}.");
            return 0;
        }

        if (double.IsInfinity(expected) || float.IsInfinity(actual))
        {
            Assert.True((double)actual == expected, $"{context}: head {head} pair {pair} element {index}: expected {expected}, got {actual}.");
            return 0;
        }

        double error = Math.Abs(actual - expected);
        if (!(error <= bound))
        {
            Assert.Fail($"{context}: head {head} pair {pair} element {index}: got {actual:R}, expected {expected:R}, error {error:E3} > bound {bound:E3}.");
        }

        return error;
    }
}
