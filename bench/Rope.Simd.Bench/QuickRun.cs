using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rope.Simd;

namespace Rope.Simd.Bench;

/// <summary>
/// The built-in comparison: for each path, the largest error against <see cref="RopeReference"/> and the throughput of
/// an in-place float32 prefill as a percentage of <see cref="BandwidthLimit"/> over the same buffer, all measured in
/// one process in interleaved rounds (medians), so drift on a shared machine hits every case alike.
/// </summary>
internal static class QuickRun
{
    private const int Rounds = 15;
    private const int RepetitionsPerRound = 20;

    public static void Run(TextWriter output)
    {
        const int Tokens = 512, Heads = 32, HeadDim = 128;
        var shape = new RopeShape(Tokens, Heads, HeadDim);
        var table = RopeTable.Create(rotaryDim: HeadDim, positionCount: 4096, @base: 10000);
        int elements = shape.RequiredLength;

        output.WriteLine($"Rope.Simd quick run: float32 prefill {Tokens} tokens x {Heads} heads x {HeadDim}, positions 0..{Tokens - 1}, one thread");
        output.WriteLine($"CPU: {CpuName()}; {Environment.ProcessorCount} cores; .NET {Environment.Version}; {IsaSummary()}");
        output.WriteLine($"Default path: {RopeEngine.Default.Path}; paths in this process: {string.Join(", ", RopeEngine.Supported)}");
        output.WriteLine();

        float[] input = RandomActivations(elements, seed: 1);
        var expected = new Dictionary<RopeLayout, double[]>();
        int[] positions = [.. Enumerable.Range(0, Tokens)];
        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            expected[layout] = new double[elements];
            RopeReference.Rotate(input, expected[layout], Heads, HeadDim, positions, table.Frequencies.InverseFrequencies, layout);
        }

        using var buffer = new AlignedBuffer(elements);
        var cases = new List<(string Name, Action Body)> { ("limit: in-place read-modify-write", () => BandwidthLimit.ReadModifyWrite(buffer.Span)) };
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                cases.Add(($"{engine.Path} {layout}", () => engine.Apply(table, buffer.Span, shape, 0, layout)));
            }
        }

        input.CopyTo(buffer.Span);
        double[] medians = MeasureInterleaved(cases);
        double limit = medians[0];

        output.WriteLine($"| case | ns/element | % of limit | max error (x 2^-23 max(|a|,|b|)) |");
        output.WriteLine($"|---|---:|---:|---:|");
        output.WriteLine($"| {cases[0].Name} | {limit / elements:F4} | 100% | |");
        int index = 1;
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                input.CopyTo(buffer.Span);
                engine.Apply(table, buffer.Span, shape, 0, layout);
                double error = MaxPairError(input, buffer.Span, expected[layout], HeadDim, layout);
                output.WriteLine($"| {cases[index].Name} | {medians[index] / elements:F4} | {100 * limit / medians[index]:F0}% | {error:F3} |");
                index++;
            }
        }
    }

    /// <summary>Median nanoseconds per call of each case, measured round-robin after a warm-up.</summary>
    private static double[] MeasureInterleaved(List<(string Name, Action Body)> cases)
    {
        foreach (var (_, body) in cases)
        {
            for (int i = 0; i < 50; i++)
            {
                body();
            }
        }

        var samples = new double[cases.Count][];
        for (int c = 0; c < cases.Count; c++)
        {
            samples[c] = new double[Rounds];
        }

        for (int round = 0; round < Rounds; round++)
        {
            for (int c = 0; c < cases.Count; c++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < RepetitionsPerRound; i++)
                {
                    cases[c].Body();
                }

                samples[c][round] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / RepetitionsPerRound;
            }
        }

        return [.. samples.Select(s => s.Order().ElementAt(s.Length / 2))];
    }

    /// <summary>Largest |actual − expected| over rotated elements, in units of 2^-23·max(|a|,|b|) of the input pair.</summary>
    private static double MaxPairError(float[] input, ReadOnlySpan<float> actual, double[] expected, int headDim, RopeLayout layout)
    {
        int pairs = headDim / 2;
        double worst = 0;
        for (int start = 0; start < input.Length; start += headDim)
        {
            for (int pair = 0; pair < pairs; pair++)
            {
                int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                double unit = Math.Max(Math.Abs(input[first]), Math.Abs(input[second])) / (1 << 23);
                worst = Math.Max(worst, Math.Abs(actual[first] - expected[first]) / unit);
                worst = Math.Max(worst, Math.Abs(actual[second] - expected[second]) / unit);
            }
        }

        return worst;
    }

    private static float[] RandomActivations(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(random.NextDouble() * 8 - 4);
        }

        return values;
    }

    private static string CpuName()
    {
        const string CpuInfo = "/proc/cpuinfo";
        string? line = File.Exists(CpuInfo) ? File.ReadLines(CpuInfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
        return line?.Split(':', 2)[1].Trim() ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string IsaSummary() =>
        $"Vector512 {(Vector512.IsHardwareAccelerated ? "on" : "off")}, AVX-512F {Avx512F.IsSupported}, AVX2 {Avx2.IsSupported}, FMA {Fma.IsSupported}";
}
