using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Rope.Simd;

namespace Rope.Simd.Bench;

/// <summary>
/// The built-in comparison: for each element type, path and layout, the throughput of an in-place prefill as a
/// percentage of <see cref="BandwidthLimit"/> over the same bytes, and the largest error against
/// <see cref="RopeReference"/>. Every case of a table is measured in one process in interleaved rounds (medians), so
/// drift on a shared machine hits every case alike.
/// </summary>
internal static class QuickRun
{
    private const int Rounds = 15;
    private const int RepetitionsPerRound = 20;
    private const int Tokens = 512, Heads = 32, HeadDim = 128;

    public static void Run(TextWriter output)
    {
        var shape = new RopeShape(Tokens, Heads, HeadDim);
        var table = RopeTable.Create(rotaryDim: HeadDim, positionCount: 4096, @base: 10000);
        int elements = shape.RequiredLength;

        output.WriteLine($"Rope.Simd quick run: in-place prefill {Tokens} tokens x {Heads} heads x {HeadDim}, positions 0..{Tokens - 1}, one thread");
        output.WriteLine($"CPU: {CpuName()}; {Environment.ProcessorCount} cores; .NET {Environment.Version}; {IsaSummary()}");
        output.WriteLine($"Default path: {RopeEngine.Default.Path}; paths in this process: {string.Join(", ", RopeEngine.Supported)}");

        float[] input = RandomActivations(elements, seed: 1);
        int[] positions = [.. Enumerable.Range(0, Tokens)];
        var expected = new Dictionary<RopeLayout, double[]>();
        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            expected[layout] = new double[elements];
            RopeReference.Rotate(input, expected[layout], Heads, HeadDim, positions, table.Frequencies.InverseFrequencies, layout);
        }

        using var buffer = new AlignedBuffer(elements);
        RunSingle(output, table, shape, input, expected, buffer);

        // The 16-bit types: the same activations rounded once to the type, and the reference recomputed from those values.
        var rounded = new float[elements];
        foreach (string type in (ReadOnlySpan<string>)["bfloat16", "float16"])
        {
            bool isBFloat16 = type == "bfloat16";
            var narrow = new ushort[elements];
            Narrow(RopeEngine.Default, isBFloat16, input, narrow);
            Widen(RopeEngine.Default, isBFloat16, narrow, rounded);
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                RopeReference.Rotate(rounded, expected[layout], Heads, HeadDim, positions, table.Frequencies.InverseFrequencies, layout);
            }

            RunSixteenBit(output, type, isBFloat16, table, shape, narrow, rounded, expected, buffer);
        }
    }

    private static void RunSingle(TextWriter output, RopeTable table, RopeShape shape, float[] input,
        Dictionary<RopeLayout, double[]> expected, AlignedBuffer buffer)
    {
        int elements = shape.RequiredLength;
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

        output.WriteLine();
        output.WriteLine("float32 (4 bytes per element)");
        output.WriteLine();
        output.WriteLine("| case | ns/element | % of limit | max error (x 2^-23 max(|a|,|b|)) |");
        output.WriteLine("|---|---:|---:|---:|");
        output.WriteLine($"| {cases[0].Name} | {medians[0] / elements:F4} | 100% | |");
        int index = 1;
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                input.CopyTo(buffer.Span);
                engine.Apply(table, buffer.Span, shape, 0, layout);
                double error = MaxPairError(input, buffer.Span, expected[layout], layout);
                output.WriteLine($"| {cases[index].Name} | {medians[index] / elements:F4} | {100 * medians[0] / medians[index]:F0}% | {error:F3} |");
                index++;
            }
        }
    }

    private static void RunSixteenBit(TextWriter output, string type, bool isBFloat16, RopeTable table, RopeShape shape,
        ushort[] input, float[] widenedInput, Dictionary<RopeLayout, double[]> expected, AlignedBuffer buffer)
    {
        int elements = shape.RequiredLength;
        Span<ushort> Values() => MemoryMarshal.Cast<float, ushort>(buffer.Span)[..elements];

        // The limit streams the same bytes: half as many float32 lanes as there are 16-bit elements.
        var cases = new List<(string Name, Action Body)>
        {
            ("limit: in-place read-modify-write, same bytes", () => BandwidthLimit.ReadModifyWrite(buffer.Span[..(elements / 2)])),
        };
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                cases.Add(($"{engine.Path} {layout}", () => Apply(engine, isBFloat16, table, Values(), shape, layout)));
            }
        }

        input.CopyTo(Values());
        double[] medians = MeasureInterleaved(cases);

        output.WriteLine();
        output.WriteLine($"{type} (2 bytes per element; float32 arithmetic, one rounding)");
        output.WriteLine();
        output.WriteLine($"| case | ns/element | % of limit | correctly rounded | max error beyond rounding (x 2^-23 max(|a|,|b|)) |");
        output.WriteLine("|---|---:|---:|---:|---:|");
        output.WriteLine($"| {cases[0].Name} | {medians[0] / elements:F4} | 100% | | |");
        int index = 1;
        var widened = new float[elements];
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                input.CopyTo(Values());
                Apply(engine, isBFloat16, table, Values(), shape, layout);
                Widen(engine, isBFloat16, Values(), widened);
                (double exact, double error) = RoundingQuality(widenedInput, widened, expected[layout], layout, isBFloat16 ? 7 : 10, isBFloat16 ? -126 : -14);
                output.WriteLine($"| {cases[index].Name} | {medians[index] / elements:F4} | {100 * medians[0] / medians[index]:F0}% | {exact:P4} | {error:F3} |");
                index++;
            }
        }
    }

    private static void Apply(RopeEngine engine, bool isBFloat16, RopeTable table, Span<ushort> values, RopeShape shape, RopeLayout layout)
    {
        if (isBFloat16)
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, BFloat16>(values), shape, 0, layout);
        }
        else
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, Half>(values), shape, 0, layout);
        }
    }

    private static void Narrow(RopeEngine engine, bool isBFloat16, ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (isBFloat16)
        {
            engine.ConvertToBFloat16(source, MemoryMarshal.Cast<ushort, BFloat16>(destination));
        }
        else
        {
            engine.ConvertToHalf(source, MemoryMarshal.Cast<ushort, Half>(destination));
        }
    }

    private static void Widen(RopeEngine engine, bool isBFloat16, ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (isBFloat16)
        {
            engine.ConvertToSingle(MemoryMarshal.Cast<ushort, BFloat16>(source), destination);
        }
        else
        {
            engine.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
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
    private static double MaxPairError(float[] input, ReadOnlySpan<float> actual, double[] expected, RopeLayout layout)
    {
        const int Pairs = HeadDim / 2;
        double worst = 0;
        for (int start = 0; start < input.Length; start += HeadDim)
        {
            for (int pair = 0; pair < Pairs; pair++)
            {
                int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                int second = layout == RopeLayout.Interleaved ? first + 1 : first + Pairs;
                double unit = Math.Max(Math.Abs(input[first]), Math.Abs(input[second])) / (1 << 23);
                worst = Math.Max(worst, Math.Abs(actual[first] - expected[first]) / unit);
                worst = Math.Max(worst, Math.Abs(actual[second] - expected[second]) / unit);
            }
        }

        return worst;
    }

    /// <summary>
    /// The share of rotated elements equal to the exact result rounded to the 16-bit format (given by its mantissa bits
    /// and smallest normal exponent), and the largest error beyond half a unit in the last place, in units of
    /// 2^-23·max(|a|,|b|) of the input pair (the guarantee is 3 of those).
    /// </summary>
    private static (double CorrectlyRounded, double WorstBeyondRounding) RoundingQuality(float[] input, ReadOnlySpan<float> actual, double[] expected,
        RopeLayout layout, int mantissaBits, int minExponent)
    {
        const int Pairs = HeadDim / 2;
        long exact = 0;
        double worst = 0;
        for (int start = 0; start < input.Length; start += HeadDim)
        {
            for (int pair = 0; pair < Pairs; pair++)
            {
                int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                int second = layout == RopeLayout.Interleaved ? first + 1 : first + Pairs;
                double unit = Math.Max(Math.Abs(input[first]), Math.Abs(input[second])) / (1 << 23);
                foreach (int i in (ReadOnlySpan<int>)[first, second])
                {
                    double magnitude = Math.Abs(expected[i]);
                    double ulp = Math.ScaleB(1, (magnitude == 0 ? minExponent : Math.Max(Math.ILogB(magnitude), minExponent)) - mantissaBits);
                    double error = Math.Abs(actual[i] - expected[i]);
                    exact += error <= ulp / 2 ? 1 : 0;
                    worst = Math.Max(worst, Math.Max(0, error - ulp / 2) / unit);
                }
            }
        }

        return ((double)exact / input.Length, worst);
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
        return line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string IsaSummary() =>
        $"Vector512 {(Vector512.IsHardwareAccelerated ? "on" : "off")}, AVX-512F {Avx512F.IsSupported}, AVX2 {Avx2.IsSupported}, FMA {Fma.IsSupported}";
}
