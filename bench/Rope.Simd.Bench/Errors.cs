namespace Rope.Simd.Bench;

/// <summary>How far a result is from the double reference, in the units of the guarantees in docs/accuracy.md.</summary>
internal static class Errors
{
    /// <summary>float32: the largest |actual − expected| over rotated elements, in units of 2^-23·max(|a|,|b|) of the input pair.</summary>
    public static string Single(float[] input, ReadOnlySpan<float> actual, double[] expected, int headDim, RopeLayout layout)
    {
        float[] result = actual.ToArray();
        double worst = 0;
        ForEachRotated(input, headDim, layout, (i, unit) => worst = Math.Max(worst, Math.Abs(result[i] - expected[i]) / unit));
        return $"{worst:F3} x 2^-23 M";
    }

    /// <summary>
    /// 16-bit types: the share of rotated elements equal to the exact result rounded to the type, and the largest error
    /// beyond half a unit in the last place, in units of 2^-23·max(|a|,|b|) (the guarantee allows 3).
    /// </summary>
    public static string Packed(float[] input, ReadOnlySpan<float> actual, double[] expected, int headDim, RopeLayout layout, bool bfloat16)
    {
        (int mantissaBits, int minExponent) = bfloat16 ? (7, -126) : (10, -14);
        float[] result = actual.ToArray();
        long exact = 0, count = 0;
        double worst = 0;
        ForEachRotated(input, headDim, layout, (i, unit) =>
        {
            double magnitude = Math.Abs(expected[i]);
            double ulp = Math.ScaleB(1, (magnitude == 0 ? minExponent : Math.Max(Math.ILogB(magnitude), minExponent)) - mantissaBits);
            double error = Math.Abs(result[i] - expected[i]);
            exact += error <= ulp / 2 ? 1 : 0;
            count++;
            worst = Math.Max(worst, Math.Max(0, error - ulp / 2) / unit);
        });
        return $"{100.0 * exact / count:F4}% rounded exactly, beyond rounding {worst:F3} x 2^-23 M";
    }

    private delegate void ElementVisitor(int index, double unit);

    private static void ForEachRotated(float[] input, int headDim, RopeLayout layout, ElementVisitor visit)
    {
        int pairs = headDim / 2;
        for (int start = 0; start < input.Length; start += headDim)
        {
            for (int pair = 0; pair < pairs; pair++)
            {
                int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                double unit = Math.Max(Math.Abs(input[first]), Math.Abs(input[second])) / (1 << 23);
                visit(first, unit);
                visit(second, unit);
            }
        }
    }
}
