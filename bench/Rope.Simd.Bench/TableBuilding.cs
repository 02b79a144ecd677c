using System.Diagnostics;
using System.Numerics;

namespace Rope.Simd.Bench;

/// <summary>
/// Building cos/sin rows: Rope.Simd's builder against a MathF.SinCos loop and Vector*.SinCos on float32 angles (what
/// a quick implementation does), in entries per second, and the largest error in float32 ulps of the exact value, over
/// positions at the start and just below 2^20.
/// </summary>
internal static class TableBuilding
{
    private const int RotaryDim = 128, Positions = 4096, Rounds = 11;

    public static List<ResultRow> Run(TextWriter output)
    {
        const string Title = "table building, rotary dim 128, base 10000";
        var frequencies = RopeFrequencies.Create(RotaryDim);
        float[] inverse = [.. frequencies.InverseFrequencies.ToArray().Select(w => (float)w)];
        var rows = new float[Positions * RotaryDim];
        (string Name, Action<int> Build)[] builders =
        [
            ("Rope.Simd RopeTable.Fill", first => RopeTable.Fill(frequencies, first, Positions, rows)),
            ("MathF.SinCos loop on float32 angles", first => ScalarSinCos(inverse, first, rows)),
            ($"Vector{Vector<float>.Count * 32}.SinCos on float32 angles", first => VectorSinCos(inverse, first, rows)),
        ];

        output.WriteLine();
        output.WriteLine($"### {Title}");
        output.WriteLine();
        output.WriteLine("| builder | ns/entry | million entries/s | Rope.Simd speed-up | max error (float32 ulps), positions < 4096 and < 2^20 |");
        output.WriteLine("|---|---:|---:|---:|---|");
        var results = new List<ResultRow>();
        double ours = 0;
        foreach ((string name, Action<int> build) in builders)
        {
            double nanoseconds = Median(() => build(0)) / (Positions * RotaryDim);
            ours = ours == 0 ? nanoseconds : ours;
            build(0);
            double low = MaxUlpError(rows, frequencies, 0);
            build((1 << 20) - Positions);
            double high = MaxUlpError(rows, frequencies, (1 << 20) - Positions);
            string error = $"{low:F2} / {high:F2}";
            double? speedUp = results.Count == 0 ? null : nanoseconds / ours;
            output.WriteLine($"| {name} | {nanoseconds:F3} | {1000 / nanoseconds:F0} | {(speedUp is double s ? $"{s:F1}x" : "")} | {error} |");
            results.Add(new(Title, name, nanoseconds, double.NaN, speedUp, error));
        }

        return results;
    }

    private static void ScalarSinCos(float[] inverse, int first, float[] rows)
    {
        for (int p = 0; p < Positions; p++)
        {
            for (int i = 0; i < inverse.Length; i++)
            {
                (float sin, float cos) = MathF.SinCos((first + p) * inverse[i]);
                rows[p * RotaryDim + 2 * i] = cos;
                rows[p * RotaryDim + 2 * i + 1] = sin;
            }
        }
    }

    private static void VectorSinCos(float[] inverse, int first, float[] rows)
    {
        int width = Vector<float>.Count;
        Span<float> sines = stackalloc float[width], cosines = stackalloc float[width];
        for (int p = 0; p < Positions; p++)
        {
            var position = new Vector<float>(first + p);
            for (int i = 0; i < inverse.Length; i += width)
            {
                (Vector<float> sin, Vector<float> cos) = Vector.SinCos(position * new Vector<float>(inverse.AsSpan(i)));
                sin.CopyTo(sines);
                cos.CopyTo(cosines);
                for (int k = 0; k < width; k++)
                {
                    rows[p * RotaryDim + 2 * (i + k)] = cosines[k];
                    rows[p * RotaryDim + 2 * (i + k) + 1] = sines[k];
                }
            }
        }
    }

    /// <summary>
    /// Largest error in ulps of the exact value: the angle p·ω is split exactly into a double and its rounding error
    /// (a fused multiply-add), so cos(hi + lo) ≈ cos hi − lo·sin hi is far more accurate than float32.
    /// </summary>
    private static double MaxUlpError(float[] rows, RopeFrequencies frequencies, int first)
    {
        ReadOnlySpan<double> omega = frequencies.InverseFrequencies;
        double worst = 0;
        for (int p = 0; p < Positions; p++)
        {
            for (int i = 0; i < omega.Length; i++)
            {
                double high = (first + p) * omega[i], low = Math.FusedMultiplyAdd(first + p, omega[i], -high);
                (double sin, double cos) = Math.SinCos(high);
                worst = Math.Max(worst, Ulps(rows[p * RotaryDim + 2 * i], cos - low * sin));
                worst = Math.Max(worst, Ulps(rows[p * RotaryDim + 2 * i + 1], sin + low * cos));
            }
        }

        return worst;
    }

    private static double Ulps(float actual, double exact)
    {
        float rounded = (float)exact;
        double ulp = Math.Abs((double)MathF.BitIncrement(Math.Abs(rounded)) - Math.Abs(rounded));
        return Math.Abs(actual - exact) / ulp;
    }

    private static double Median(Action body)
    {
        body();
        var samples = new double[Rounds];
        for (int round = 0; round < Rounds; round++)
        {
            long start = Stopwatch.GetTimestamp();
            body();
            samples[round] = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        }

        return samples.Order().ElementAt(Rounds / 2);
    }
}
