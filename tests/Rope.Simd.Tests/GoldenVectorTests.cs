using System.Globalization;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Vectors written by PyTorch in float64 (Golden/generate_golden.py): Meta's precompute_freqs_cis + apply_rotary_emb
/// for the interleaved layout and Hugging Face's rotate_half for the half-split layout, partial rotary included; and
/// bfloat16 / float16 cases: torch's rounding of float32 sources to the 16-bit type, then the rotation of those values.
/// </summary>
public class GoldenVectorTests
{
    public static TheoryData<RopePath, string> Cases => CasesWhere(packed: false);

    public static TheoryData<RopePath, string> PackedCases => CasesWhere(packed: true);

    private static string GoldenDirectory => Path.Combine(AppContext.BaseDirectory, "Golden");

    [Theory]
    [MemberData(nameof(Cases))]
    public void RotationMatchesTorch(RopePath path, string name)
    {
        GoldenCase golden = GoldenCase.Load(Path.Combine(GoldenDirectory, name + ".txt"));
        var frequencies = RopeFrequencies.Create(golden.RotaryDim, golden.Theta);
        var shape = new RopeShape(tokens: 1, golden.Heads, golden.HeadDim);
        float[] actual = (float[])golden.Input.Clone();

        // Positions reach 2^20: one single-row table per token keeps the test small.
        for (int token = 0; token < golden.Positions.Length; token++)
        {
            var table = RopeTable.Create(frequencies, golden.Positions[token], 1);
            RopeEngine.Get(path).Apply(table, actual.AsSpan(token * shape.RequiredLength, shape.RequiredLength), shape,
                golden.Positions[token], golden.Layout);
        }

        RotationOracle.AssertClose(golden.Input, actual, golden.Output, golden.HeadDim, golden.RotaryDim, golden.Layout, $"{path} {name}");
    }

    [Theory]
    [MemberData(nameof(PackedCases))]
    public void SixteenBitConversionAndRotationMatchTorch(RopePath path, string name)
    {
        GoldenCase golden = GoldenCase.Load(Path.Combine(GoldenDirectory, name + ".txt"));
        PackedType type = golden.Type!.Value;
        RopeEngine engine = RopeEngine.Get(path);
        ushort[] input = [.. golden.Input.Select(bits => (ushort)bits)];
        var narrowed = new ushort[input.Length];
        PackedElements.Narrow(engine, type, golden.Source, narrowed);
        Assert.Equal(input, narrowed);

        var frequencies = RopeFrequencies.Create(golden.RotaryDim, golden.Theta);
        var shape = new RopeShape(tokens: 1, golden.Heads, golden.HeadDim);
        ushort[] actual = (ushort[])input.Clone();
        for (int token = 0; token < golden.Positions.Length; token++)
        {
            var table = RopeTable.Create(frequencies, golden.Positions[token], 1);
            PackedElements.Apply(engine, type, table, actual.AsSpan(token * shape.RequiredLength, shape.RequiredLength), shape,
                golden.Positions[token], golden.Layout);
        }

        PackedOracle.AssertRounded(type, input, actual, golden.Output, golden.HeadDim, golden.RotaryDim, golden.Layout, $"{path} {name}");
    }

    [Theory]
    [InlineData("meta_dim4_end3")]
    [InlineData("meta_llama2_dim128")]
    [InlineData("meta_llama3_dim128")]
    [InlineData("meta_dim6_odd_pairs")]
    public void TableMatchesFreqsCis(string name)
    {
        GoldenCase golden = GoldenCase.Load(Path.Combine(GoldenDirectory, name + ".txt"));
        var frequencies = RopeFrequencies.Create(golden.RotaryDim, golden.Theta);
        var row = new float[golden.RotaryDim];
        for (int token = 0; token < golden.Positions.Length; token++)
        {
            RopeTable.Fill(frequencies, golden.Positions[token], 1, row);
            for (int i = 0; i < row.Length; i++)
            {
                double exact = golden.Table![token * row.Length + i];
                Assert.True(ExactTrig.UlpError(row[i], exact) <= 1.0,
                    $"{name} position {golden.Positions[token]} entry {i}: {row[i]:R} vs torch {exact:R}");
            }
        }
    }

    private static TheoryData<RopePath, string> CasesWhere(bool packed)
    {
        var data = new TheoryData<RopePath, string>();
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            foreach (string file in Directory.GetFiles(GoldenDirectory, "*.txt").Order(StringComparer.Ordinal))
            {
                if (File.ReadLines(file).First().StartsWith("dtype ", StringComparison.Ordinal) == packed)
                {
                    data.Add(engine.Path, Path.GetFileNameWithoutExtension(file));
                }
            }
        }

        return data;
    }

    /// <summary>One file; for 16-bit cases <see cref="Input"/> holds bit patterns and <see cref="Source"/> the float32 values torch rounded.</summary>
    private sealed record GoldenCase(RopeLayout Layout, int Heads, int HeadDim, int RotaryDim, double Theta,
        int[] Positions, float[] Input, double[] Output, double[]? Table, PackedType? Type, float[] Source)
    {
        public static GoldenCase Load(string file)
        {
            Dictionary<string, string[]> fields = File.ReadLines(file)
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .ToDictionary(parts => parts[0], parts => parts[1..]);
            int Int(string key) => int.Parse(fields[key][0], CultureInfo.InvariantCulture);

            // Python spells the special values inf, -inf and nan.
            static double ParseDouble(string value) => value switch
            {
                "inf" => double.PositiveInfinity,
                "-inf" => double.NegativeInfinity,
                "nan" => double.NaN,
                _ => double.Parse(value, CultureInfo.InvariantCulture),
            };
            return new GoldenCase(
                Enum.Parse<RopeLayout>(fields["layout"][0]),
                Int("heads"),
                Int("head_dim"),
                Int("rotary_dim"),
                double.Parse(fields["theta"][0], CultureInfo.InvariantCulture),
                [.. fields["positions"].Select(v => int.Parse(v, CultureInfo.InvariantCulture))],
                [.. fields["input"].Select(v => float.Parse(v, CultureInfo.InvariantCulture))],
                [.. fields["output"].Select(ParseDouble)],
                fields.TryGetValue("table", out string[]? table) ? [.. table.Select(v => double.Parse(v, CultureInfo.InvariantCulture))] : null,
                fields.TryGetValue("dtype", out string[]? dtype) ? (dtype[0] == "bfloat16" ? PackedType.BFloat16 : PackedType.Half) : null,
                fields.TryGetValue("source", out string[]? source) ? [.. source.Select(v => (float)ParseDouble(v))] : []);
        }
    }
}
