using System.Text.Json;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Every scaling kind against float64 vectors written by Golden/generate_scaling.py (the published formulas in torch),
/// and the properties the kinds promise.
/// </summary>
public class ScalingTests
{
    private static readonly JsonElement Vectors = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "scaling.json"))).RootElement;

    public static TheoryData<string> Cases => new(Vectors.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()!));

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryKindMatchesThePublishedFormula(string name)
    {
        JsonElement vector = Vectors.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
        JsonElement p = vector.GetProperty("parameters");
        double Number(string key) => p.GetProperty(key).GetDouble();
        int Integer(string key) => p.GetProperty(key).GetInt32();
        double? Optional(string key) => p.TryGetProperty(key, out JsonElement value) ? value.GetDouble() : null;
        double[] Array(string key) => [.. p.GetProperty(key).EnumerateArray().Select(v => v.GetDouble())];

        RopeFrequencies actual = vector.GetProperty("kind").GetString() switch
        {
            "linear" => RopeScaling.Linear(Integer("rotary_dim"), Number("base"), Number("factor")),
            "fixed_ntk" => RopeScaling.FixedNtk(Integer("rotary_dim"), Number("base"), Number("factor")),
            "dynamic_ntk" => RopeScaling.DynamicNtk(Integer("rotary_dim"), Number("base"), Number("factor"),
                Integer("max_position_embeddings"), Integer("sequence_length")),
            "yarn" => RopeScaling.Yarn(Integer("rotary_dim"), Number("base"), Number("factor"), Integer("original_max_position_embeddings"),
                Optional("beta_fast") ?? 32, Optional("beta_slow") ?? 1, !p.TryGetProperty("truncate", out JsonElement truncate) || truncate.GetBoolean(),
                Optional("attention_factor"), Optional("mscale"), Optional("mscale_all_dim")),
            "llama3" => RopeScaling.Llama3(Integer("rotary_dim"), Number("base"), Number("factor"), Integer("original_max_position_embeddings"),
                Number("low_freq_factor"), Number("high_freq_factor")),
            "longrope" => RopeScaling.LongRope(Integer("rotary_dim"), Number("base"), Array("short_factor"), Array("long_factor"),
                Integer("original_max_position_embeddings"), Integer("max_position_embeddings"), LongRopeSelection.BySequenceLength,
                Integer("sequence_length")),
            "proportional" => RopeScaling.Proportional(Integer("head_dim"), Number("base"), Number("partial_rotary_factor"), Number("factor")),
            var kind => throw new InvalidOperationException($"Unknown kind {kind}."),
        };

        double[] expected = [.. vector.GetProperty("inverse_frequencies").EnumerateArray().Select(v => v.GetDouble())];
        Assert.Equal(expected.Length, actual.PairCount);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(actual.InverseFrequencies[i] - expected[i]) <= 4e-16 * expected[i],
                $"{name} pair {i}: {actual.InverseFrequencies[i]:R} vs {expected[i]:R}");
        }

        Assert.Equal(vector.GetProperty("attention_factor").GetDouble(), actual.AttentionFactor, 15);
    }

    [Fact]
    public void GgmlVisionRestartsTheFrequenciesAtEachSection()
    {
        // Head of 128: 64 pairs over sections of 32: pair i of section k at base^(-2(i - 32k)/64).
        RopeFrequencies vision = RopeScaling.GgmlVision(128, 10000, 1, 1, [32, 32, 32, 32]);
        Assert.Equal(128, vision.RotaryDim);
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(Math.Pow(10000, -2.0 * (i % 32) / 64), vision.InverseFrequencies[i], 1e-15);
        }

        Assert.Equal("headDim", Assert.ThrowsAny<ArgumentException>(() => RopeScaling.GgmlVision(126, 10000, 1, 1, [32, 32, 0, 0])).ParamName);
        Assert.Equal("sections", Assert.ThrowsAny<ArgumentException>(() => RopeScaling.GgmlVision(128, 10000, 1, 1, [0, 0, 0, 0])).ParamName);
        Assert.Equal("sections", Assert.ThrowsAny<ArgumentException>(() => RopeScaling.GgmlVision(128, 10000, 1, 1, [32, -1, 0, 0])).ParamName);
    }

    [Fact]
    public void GgmlArgumentsMapOntoTheSchedules()
    {
        // No YaRN: linear scaling by 1 / freq_scale, attn_factor as the attention factor.
        RopeFrequencies linear = RopeScaling.Ggml(128, 10000, 0.25, 0, 0.9, 32, 1, 4096);
        Assert.Equal(RopeScaling.Linear(128, 10000, 4).InverseFrequencies.ToArray(), linear.InverseFrequencies.ToArray());
        Assert.Equal(0.9, linear.AttentionFactor);

        // ext_factor 1: Hugging Face's YaRN (truncated correction range), A = 1 + 0.1 ln s.
        RopeFrequencies yarn = RopeScaling.Ggml(128, 1000000, 0.25, 1, 1, 32, 1, 32768);
        RopeFrequencies reference = RopeScaling.Yarn(128, 1000000, 4, 32768);
        double[] expected = reference.InverseFrequencies.ToArray(), actual = yarn.InverseFrequencies.ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], expected[i] * 1e-15);
        }

        Assert.Equal(reference.AttentionFactor, yarn.AttentionFactor, 15);

        // freq_factors divide each pair's frequency; bad arguments are named.
        double[] factors = [.. Enumerable.Range(0, 32).Select(i => 1 + i / 4.0)];
        Assert.Equal(RopeScaling.WithFactors(RopeFrequencies.Create(64, 500000), factors).InverseFrequencies.ToArray(),
            RopeScaling.Ggml(64, 500000, 1, 0, 1, 32, 1, 8192, factors).InverseFrequencies.ToArray());
        Assert.Equal("freqScale", Assert.ThrowsAny<ArgumentException>(() => RopeScaling.Ggml(64, 10000, 0, 0, 1, 32, 1, 4096)).ParamName);
        Assert.Equal("extFactor", Assert.ThrowsAny<ArgumentException>(() => RopeScaling.Ggml(64, 10000, 1, -1, 1, 32, 1, 4096)).ParamName);
        Assert.Equal("freqFactors", Assert.ThrowsAny<ArgumentException>(() => RopeScaling.Ggml(64, 10000, 1, 0, 1, 32, 1, 4096, [1, 2])).ParamName);
    }

    [Fact]
    public void DeepSeekSoftmaxScaleIsTheSquaredMscale()
    {
        Assert.Equal(Vectors.GetProperty("deepseek_v2_softmax_scale").GetDouble(), RopeScaling.DeepSeekSoftmaxScale(40, 0.707), 15);
        Assert.Equal(Vectors.GetProperty("deepseek_v3_softmax_scale").GetDouble(), RopeScaling.DeepSeekSoftmaxScale(40, 1.0), 15);
        Assert.Equal(1.0, RopeScaling.DeepSeekSoftmaxScale(1, 1.0));
    }

    [Fact]
    public void FactorOneLeavesTheDefaultSchedule()
    {
        ReadOnlySpan<double> plain = RopeFrequencies.Create(128, 500000).InverseFrequencies;
        foreach (RopeFrequencies scaled in (RopeFrequencies[])[
            RopeScaling.Linear(128, 500000, 1), RopeScaling.FixedNtk(128, 500000, 1), RopeScaling.Yarn(128, 500000, 1, 8192),
            RopeScaling.Llama3(128, 500000, 1, 8192), RopeScaling.DynamicNtk(128, 500000, 1, 8192, 8192)])
        {
            Assert.Equal(1.0, scaled.AttentionFactor);
            for (int i = 0; i < plain.Length; i++)
            {
                Assert.Equal(plain[i], scaled.InverseFrequencies[i], plain[i] * 1e-15);
            }
        }
    }

    [Fact]
    public void Llama3KeepsHighFrequenciesAndDividesLowOnesByTheFactor()
    {
        ReadOnlySpan<double> plain = RopeFrequencies.Create(128, 500000).InverseFrequencies;
        ReadOnlySpan<double> scaled = RopeScaling.Llama3(128, 500000, 8, 8192).InverseFrequencies;
        int kept = 0, divided = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelength = 2 * Math.PI / plain[i];
            if (wavelength < 8192 / 4.0)
            {
                Assert.Equal(plain[i], scaled[i]);
                kept++;
            }
            else if (wavelength > 8192)
            {
                Assert.Equal(plain[i] / 8, scaled[i]);
                divided++;
            }
            else
            {
                Assert.InRange(scaled[i], plain[i] / 8, plain[i]);
            }
        }

        Assert.True(kept > 0 && divided > 0);
    }

    [Fact]
    public void LinearScalingEqualsPositionsDividedByTheFactor()
    {
        // ω/4 is exact, so position 4k of the scaled table has exactly the angle of position k unscaled: the same bits.
        var plain = RopeTable.Create(RopeFrequencies.Create(96, 10000), 0, 300);
        var scaled = RopeTable.Create(RopeScaling.Linear(96, 10000, 4), 0, 1200);
        for (int k = 0; k < 300; k++)
        {
            Assert.Equal(plain.GetRow(k).ToArray(), scaled.GetRow(4 * k).ToArray());
        }
    }

    [Fact]
    public void LongRopeSwitchesToTheLongFactorsExactlyPastTheOriginalLength()
    {
        double[] shortFactor = [.. Enumerable.Repeat(1.5, 48)], longFactor = [.. Enumerable.Repeat(7.0, 48)];
        double first(LongRopeSelection selection, int length) =>
            RopeScaling.LongRope(96, 10000, shortFactor, longFactor, 4096, 131072, selection, length).InverseFrequencies[0];

        Assert.Equal(1 / 1.5, first(LongRopeSelection.BySequenceLength, 4096));
        Assert.Equal(1 / 7.0, first(LongRopeSelection.BySequenceLength, 4097));
        Assert.Equal(1 / 7.0, first(LongRopeSelection.AlwaysLong, 1));
        Assert.Equal(1.19024, RopeScaling.LongRope(96, 10000, shortFactor, longFactor, 4096, 131072, LongRopeSelection.AlwaysLong).AttentionFactor, 5);
    }

    [Fact]
    public void TheAttentionFactorMultipliesTheTable()
    {
        RopeFrequencies yarn = RopeScaling.Yarn(64, 10000, 16, 4096);
        var unit = RopeTable.Create(RopeFrequencies.FromInverseFrequencies(yarn.InverseFrequencies), 1000, 8);
        var scaled = RopeTable.Create(yarn, 1000, 8);
        Assert.True(yarn.AttentionFactor > 1.2);
        for (int i = 0; i < unit.Rows.Length; i++)
        {
            double expected = yarn.AttentionFactor * unit.Rows[i];
            Assert.True(Math.Abs(scaled.Rows[i] - expected) <= Math.Abs(expected) * 2.5e-7 + 1e-30, $"entry {i}: {scaled.Rows[i]} vs {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void ScaledTablesRotateLikeTheReferenceWithTheAttentionFactor(RopePath path, RopeLayout layout)
    {
        RopeFrequencies yarn = RopeScaling.Yarn(128, 1000000, 4, 32768);
        var table = RopeTable.Create(yarn, 100000, 8);
        var shape = new RopeShape(tokens: 8, heads: 3, headDim: 128);
        float[] input = TestData.Activations(new Random(41), shape.RequiredLength);
        float[] actual = (float[])input.Clone();
        int[] positions = [.. Enumerable.Range(100000, 8)];

        RopeEngine.Get(path).Apply(table, actual, shape, positions, layout);

        var expected = new double[input.Length];
        RopeReference.Rotate(input, expected, shape.Heads, shape.HeadDim, positions, yarn.InverseFrequencies, layout, attentionFactor: yarn.AttentionFactor);
        // The table's A·cos, A·sin are rounded like cos and sin, so the bound scales by A.
        RotationOracle.AssertClose(input, actual, expected, 128, 128, layout, $"{path} {layout} YaRN", boundScale: yarn.AttentionFactor);
    }

    [Fact]
    public void ProportionalRotatesOnlyItsShareOfPairs()
    {
        RopeFrequencies gemma = RopeScaling.Proportional(256, 1000000, 0.25, 8);
        Assert.Equal(256, gemma.RotaryDim);
        Assert.Equal(32, gemma.InverseFrequencies.ToArray().Count(w => w > 0));
        Assert.Equal(1.0 / 8, gemma.InverseFrequencies[0]);
        Assert.Equal(0, gemma.InverseFrequencies[32]);
    }

    [Fact]
    public void PerPairFactorsDivideEachFrequency()
    {
        RopeFrequencies plain = RopeFrequencies.Create(8, 10000);
        RopeFrequencies scaled = RopeScaling.WithFactors(plain, [1, 2, 4, 8]);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(plain.InverseFrequencies[i] / (1 << i), scaled.InverseFrequencies[i]);
        }
    }

    [Fact]
    public void BadScalingParametersAreRejectedByName()
    {
        Assert.Equal("factor", Assert.Throws<ArgumentOutOfRangeException>(() => RopeScaling.Linear(64, 10000, 0)).ParamName);
        Assert.Equal("factor", Assert.Throws<ArgumentOutOfRangeException>(() => RopeScaling.Yarn(64, 10000, double.NaN, 4096)).ParamName);
        Assert.Equal("originalMaxPositionEmbeddings", Assert.Throws<ArgumentOutOfRangeException>(() => RopeScaling.Llama3(64, 10000, 8, 0)).ParamName);
        Assert.Equal("highFrequencyFactor", Assert.Throws<ArgumentOutOfRangeException>(() => RopeScaling.Llama3(64, 10000, 8, 8192, 4, 1)).ParamName);
        Assert.Equal("rotaryDim", Assert.Throws<ArgumentOutOfRangeException>(() => RopeScaling.DynamicNtk(2, 10000, 2, 4096, 1)).ParamName);
        Assert.Equal("longFactor", Assert.Throws<ArgumentException>(() =>
            RopeScaling.LongRope(8, 10000, [1, 1, 1, 1], [1, 1], 4096, 131072, LongRopeSelection.AlwaysLong)).ParamName);
        Assert.Equal("shortFactor", Assert.Throws<ArgumentException>(() =>
            RopeScaling.LongRope(8, 10000, [1, 1, 1, -1], [1, 1, 1, 1], 4096, 131072, LongRopeSelection.BySequenceLength, 10)).ParamName);
        Assert.Equal("factors", Assert.Throws<ArgumentException>(() => RopeScaling.WithFactors(RopeFrequencies.Create(8), [1, 2, 3])).ParamName);
        Assert.Equal("partialRotaryFactor", Assert.Throws<ArgumentOutOfRangeException>(() => RopeScaling.Proportional(256, 10000, 1.5)).ParamName);
        Assert.Equal("attentionFactor", Assert.Throws<ArgumentOutOfRangeException>(() => RopeFrequencies.FromInverseFrequencies([1.0], 0)).ParamName);
    }
}
