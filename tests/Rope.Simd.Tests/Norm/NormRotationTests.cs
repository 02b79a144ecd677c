using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// QK norm + rotation (<see cref="RopeEngine.ApplyWithNorm{TElement}(RopeRows, Span{TElement}, RopeShape, RopeHeadNorm, Span{TElement}, RopeShape, RopeHeadNorm, RopePositions, RopeLayout)"/>):
/// against a double-precision reference under the documented bound on every path; against the specified float32
/// arithmetic, written here independently, bit for bit; 16-bit results the same bits on every path.
/// </summary>
public class NormRotationTests
{
    private const int Tokens = 5, QueryHeads = 4, KeyHeads = 2, PositionCount = 4096;
    private const float Epsilon = 1e-6f;

    // Head dims around the 16 partials and the vector widths, with full and partial rotary.
    private static readonly (int HeadDim, int RotaryDim)[] Dims = [(128, 128), (64, 32), (72, 72), (80, 64), (10, 8), (256, 128), (34, 34)];

    public static TheoryData<RopePath, RopeLayout, int, Weighting> Cases
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout, int, Weighting>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
                {
                    for (int dims = 0; dims < Dims.Length; dims++)
                    {
                        data.Add(engine.Path, layout, dims, (Weighting)(dims % 4));
                    }
                }
            }

            return data;
        }
    }

    public static TheoryData<RopeLayout, int, Weighting> Shapes
    {
        get
        {
            var data = new TheoryData<RopeLayout, int, Weighting>();
            foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
            {
                for (int dims = 0; dims < Dims.Length; dims++)
                {
                    foreach (Weighting weighting in Enum.GetValues<Weighting>())
                    {
                        data.Add(layout, dims, weighting);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float32MatchesTheDoubleReference(RopePath path, RopeLayout layout, int dims, Weighting weighting)
    {
        var c = new Case(dims, weighting, seed: 11 + dims);
        float[] queries = [.. c.Queries], keys = [.. c.Keys];
        c.Run(RopeEngine.Get(path), queries, keys, layout);
        c.AssertNearReference(c.Queries, queries, QueryHeads, c.QueryWeights, layout, $"{path} {layout} queries");
        c.AssertNearReference(c.Keys, keys, KeyHeads, c.KeyWeights, layout, $"{path} {layout} keys");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float32IsTheSpecifiedArithmetic(RopePath path, RopeLayout layout, int dims, Weighting weighting)
    {
        // The norm as specified (scalar, written here) followed by the engine's own rotation: the same bits.
        var c = new Case(dims, weighting, seed: 23 + dims);
        RopeEngine engine = RopeEngine.Get(path);
        float[] queries = [.. c.Queries], keys = [.. c.Keys];
        c.Run(engine, queries, keys, layout);
        float[] expectedQueries = c.Normalized(c.Queries, QueryHeads, c.QueryWeights), expectedKeys = c.Normalized(c.Keys, KeyHeads, c.KeyWeights);
        engine.Apply(c.Table, expectedQueries, c.QueryShape, expectedKeys, c.KeyShape, c.Positions, layout);
        AssertSameBits(expectedQueries, queries, $"{path} {layout} queries");
        AssertSameBits(expectedKeys, keys, $"{path} {layout} keys");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BFloat16IsTheSpecifiedArithmeticOnEveryPath(RopeLayout layout, int dims, Weighting weighting) =>
        SixteenBitIsTheSpecifiedArithmetic(layout, dims, weighting, value => (BFloat16)value, value => (float)value);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void HalfIsTheSpecifiedArithmeticOnEveryPath(RopeLayout layout, int dims, Weighting weighting) =>
        SixteenBitIsTheSpecifiedArithmetic(layout, dims, weighting, value => (Half)value, value => (float)value);

    [Fact]
    public void ParallelEnginesGiveTheSameBits()
    {
        var c = new Case(0, Weighting.Weight, seed: 5, tokens: 64);
        float[] queries = [.. c.Queries], keys = [.. c.Keys], parallelQueries = [.. c.Queries], parallelKeys = [.. c.Keys];
        c.Run(RopeEngine.Default, queries, keys, RopeLayout.HalfSplit);
        c.Run(RopeEngine.Default.WithParallelism(2, minElementsPerThread: 1), parallelQueries, parallelKeys, RopeLayout.HalfSplit);
        AssertSameBits(queries, parallelQueries, "queries");
        AssertSameBits(keys, parallelKeys, "keys");

        BFloat16[] wide = [.. c.Queries.Select(value => (BFloat16)value)], split = [.. wide];
        BFloat16[] wideKeys = [.. c.Keys.Select(value => (BFloat16)value)], splitKeys = [.. wideKeys];
        c.Run(RopeEngine.Default, wide, wideKeys, RopeLayout.Interleaved);
        c.Run(RopeEngine.Default.WithParallelism(2, minElementsPerThread: 1), split, splitKeys, RopeLayout.Interleaved);
        Assert.Equal(wide.Select(value => value.Bits), split.Select(value => value.Bits));
        Assert.Equal(wideKeys.Select(value => value.Bits), splitKeys.Select(value => value.Bits));
    }

    [Fact]
    public void OneTensorEqualsTheQueriesOfTwo()
    {
        var c = new Case(1, Weighting.OnePlusWeight, seed: 8);
        float[] queries = [.. c.Queries], keys = [.. c.Keys], alone = [.. c.Queries];
        c.Run(RopeEngine.Default, queries, keys, RopeLayout.Interleaved);
        RopeEngine.Default.ApplyWithNorm(c.Table, alone.AsSpan(), c.QueryShape, c.Norm(c.QueryWeights), c.Positions, RopeLayout.Interleaved);
        AssertSameBits(queries, alone, "queries");
    }

    [Fact]
    public void RowsComputedPerCallGiveTheTableBits()
    {
        var c = new Case(0, Weighting.Weight, seed: 3);
        float[] queries = [.. c.Queries], keys = [.. c.Keys], computedQueries = [.. c.Queries], computedKeys = [.. c.Keys];
        c.Run(RopeEngine.Default, queries, keys, RopeLayout.HalfSplit);
        RopeEngine.Default.ApplyWithNorm(c.Table.Frequencies, computedQueries.AsSpan(), c.QueryShape, c.Norm(c.QueryWeights),
            computedKeys.AsSpan(), c.KeyShape, c.Norm(c.KeyWeights), c.Positions, RopeLayout.HalfSplit);
        AssertSameBits(queries, computedQueries, "queries");
        AssertSameBits(keys, computedKeys, "keys");
    }

    [Fact]
    public void NaNAndInfinityPropagateAsTheReferenceDoes()
    {
        var c = new Case(0, Weighting.Weight, seed: 9);
        c.Queries[3] = float.NaN;                 // token 0, head 0: the whole head is NaN
        c.Queries[128 + 5] = float.PositiveInfinity; // token 0, head 1: scale 0, the infinite element NaN
        c.Keys[256 + 7] = float.NegativeInfinity;
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            float[] queries = [.. c.Queries], keys = [.. c.Keys];
            c.Run(engine, queries, keys, RopeLayout.Interleaved);
            c.AssertNearReference(c.Queries, queries, QueryHeads, c.QueryWeights, RopeLayout.Interleaved, $"{engine.Path} queries");
            c.AssertNearReference(c.Keys, keys, KeyHeads, c.KeyWeights, RopeLayout.Interleaved, $"{engine.Path} keys");
            Assert.All(queries.AsSpan(0, 128).ToArray(), value => Assert.True(float.IsNaN(value)));
        }
    }

    [Fact]
    public void BadNormsAreRejectedBeforeAnythingIsWritten()
    {
        var c = new Case(0, Weighting.Weight, seed: 2);
        float[] queries = [.. c.Queries], keys = [.. c.Keys];
        float[] shortWeights = new float[127];
        var error = Assert.Throws<ArgumentException>(() => RopeEngine.Default.ApplyWithNorm(c.Table, queries.AsSpan(), c.QueryShape,
            RopeHeadNorm.Rms(c.QueryWeights, Epsilon), keys.AsSpan(), c.KeyShape, RopeHeadNorm.Rms(shortWeights, Epsilon), c.Positions, RopeLayout.HalfSplit));
        Assert.Equal("keyNorm", error.ParamName);
        Assert.Contains("127 weights", error.Message);
        error = Assert.Throws<ArgumentException>(() => RopeEngine.Default.ApplyWithNorm(c.Table, queries.AsSpan(), c.QueryShape,
            RopeHeadNorm.RmsOnePlusWeight(shortWeights, Epsilon), c.Positions, RopeLayout.HalfSplit));
        Assert.Equal("norm", error.ParamName);
        Assert.Equal(c.Queries, queries);
        Assert.Equal(c.Keys, keys);

        foreach (float epsilon in (float[])[-1e-6f, float.NaN, float.PositiveInfinity])
        {
            var outOfRange = Assert.Throws<ArgumentOutOfRangeException>(() => RopeHeadNorm.Rms(c.QueryWeights, epsilon));
            Assert.Equal("epsilon", outOfRange.ParamName);
            Assert.Throws<ArgumentOutOfRangeException>(() => RopeHeadNorm.RmsUnweighted(epsilon));
        }

        // Keys overlapping the queries' pass-through elements would be normalized twice.
        var pair = new float[2 * 128];
        var narrowShape = new RopeShape(1, 1, 128);
        Assert.Throws<ArgumentException>(() => RopeEngine.Default.ApplyWithNorm(RopeTable.Create(64, 16), pair.AsSpan(0, 128), narrowShape,
            RopeHeadNorm.RmsUnweighted(Epsilon), pair.AsSpan(64, 128), narrowShape, RopeHeadNorm.RmsUnweighted(Epsilon), 0, RopeLayout.HalfSplit));
    }

    private static void SixteenBitIsTheSpecifiedArithmetic<T>(RopeLayout layout, int dims, Weighting weighting, Func<float, T> narrow, Func<T, float> widen)
        where T : unmanaged
    {
        var c = new Case(dims, weighting, seed: 31 + dims);
        T[] inputQueries = [.. c.Queries.Select(narrow)], inputKeys = [.. c.Keys.Select(narrow)];
        float[] widenedQueries = [.. inputQueries.Select(widen)], widenedKeys = [.. inputKeys.Select(widen)];
        float[] expectedQueries = c.RotatedRoundedTwice(c.Normalized(widenedQueries, QueryHeads, c.QueryWeights), QueryHeads, layout);
        float[] expectedKeys = c.RotatedRoundedTwice(c.Normalized(widenedKeys, KeyHeads, c.KeyWeights), KeyHeads, layout);
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            T[] queries = [.. inputQueries], keys = [.. inputKeys];
            c.Run(engine, queries, keys, layout);
            for (int i = 0; i < queries.Length; i++)
            {
                AssertSameBits(narrow(expectedQueries[i]), queries[i], $"{engine.Path} {layout} query element {i}");
            }

            for (int i = 0; i < keys.Length; i++)
            {
                AssertSameBits(narrow(expectedKeys[i]), keys[i], $"{engine.Path} {layout} key element {i}");
            }
        }
    }

    private static void AssertSameBits(float[] expected, float[] actual, string context)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{context}: element {i} is {actual[i]:R}, expected {expected[i]:R}.");
            }
        }
    }

    private static void AssertSameBits<T>(T expected, T actual, string context)
        where T : unmanaged
    {
        if (!System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in expected)).SequenceEqual(
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in actual))))
        {
            Assert.Fail($"{context}: {actual}, expected {expected}.");
        }
    }

    /// <summary>Queries and keys of one token count, weights, positions and the arithmetic the call is specified by.</summary>
    private sealed class Case
    {
        public Case(int dims, Weighting weighting, int seed, int tokens = Tokens)
        {
            (HeadDim, RotaryDim) = Dims[dims];
            TokenCount = tokens;
            Weighting = weighting;
            var random = new Random(seed);
            Table = RopeTable.Create(RotaryDim, PositionCount, 10000);
            QueryShape = new RopeShape(tokens, QueryHeads, HeadDim);
            KeyShape = new RopeShape(tokens, KeyHeads, HeadDim);
            // Heads of very different sizes, as activations are, and a few exact zeros.
            Queries = Activations(random, tokens * QueryHeads);
            Keys = Activations(random, tokens * KeyHeads);
            QueryWeights = Weights(random);
            KeyWeights = Weights(random);
            Positions = [.. Enumerable.Range(0, tokens).Select(_ => random.Next(PositionCount))];
        }

        public int HeadDim { get; }

        public int RotaryDim { get; }

        public int TokenCount { get; }

        public Weighting Weighting { get; }

        public RopeTable Table { get; }

        public RopeShape QueryShape { get; }

        public RopeShape KeyShape { get; }

        public float[] Queries { get; }

        public float[] Keys { get; }

        public float[] QueryWeights { get; }

        public float[] KeyWeights { get; }

        public int[] Positions { get; }

        public RopeHeadNorm Norm(float[] weights) => SpecifiedNorm.For(Weighting, weights, Epsilon);

        public void Run<T>(RopeEngine engine, T[] queries, T[] keys, RopeLayout layout)
            where T : unmanaged =>
            engine.ApplyWithNorm(Table, queries.AsSpan(), QueryShape, Norm(QueryWeights), keys.AsSpan(), KeyShape, Norm(KeyWeights), Positions, layout);

        /// <summary>The norm as <see cref="RopeHeadNorm"/> specifies it, in scalar float32.</summary>
        public float[] Normalized(float[] values, int heads, float[] weights) => SpecifiedNorm.Normalized(values, HeadDim, Weighting, weights, Epsilon);

        /// <summary>Rotation by the table's rows with each product and sum rounded to float32 (no fused multiply-add).</summary>
        public float[] RotatedRoundedTwice(float[] values, int heads, RopeLayout layout)
        {
            float[] result = [.. values];
            int pairs = RotaryDim / 2;
            ReadOnlySpan<float> rows = Table.Rows;
            for (int token = 0; token < TokenCount; token++)
            {
                ReadOnlySpan<float> row = rows.Slice(Positions[token] * RotaryDim, RotaryDim);
                for (int head = 0; head < heads; head++)
                {
                    int start = (token * heads + head) * HeadDim;
                    for (int pair = 0; pair < pairs; pair++)
                    {
                        int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                        int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                        float a = values[first], b = values[second], cos = row[2 * pair], sin = row[2 * pair + 1];
                        float ac = a * cos, bs = b * sin, @as = a * sin, bc = b * cos;
                        result[first] = ac - bs;
                        result[second] = @as + bc;
                    }
                }
            }

            return result;
        }

        /// <summary>Every element within (⌈n/16⌉ + 21)/2 · 2^-23 · M of the double reference, M the pair's largest exactly normalized magnitude.</summary>
        public void AssertNearReference(float[] input, float[] actual, int heads, float[] weights, RopeLayout layout, string context)
        {
            const double FloatEpsilon = 1.0 / (1 << 23), SubnormalSlack = 4 * 1.401298464324817e-45;
            double bound = (Math.Ceiling(HeadDim / 16.0) + 21) / 2 * FloatEpsilon;
            int pairs = RotaryDim / 2;
            ReadOnlySpan<double> frequencies = Table.Frequencies.InverseFrequencies;
            for (int token = 0; token < TokenCount; token++)
            {
                for (int head = 0; head < heads; head++)
                {
                    int start = (token * heads + head) * HeadDim;
                    var normalized = new double[HeadDim];
                    double sum = 0;
                    for (int i = 0; i < HeadDim; i++)
                    {
                        sum += (double)input[start + i] * input[start + i];
                    }

                    double scale = Weighting == Weighting.None ? 1 : 1 / Math.Sqrt(sum / HeadDim + Epsilon);
                    for (int i = 0; i < HeadDim; i++)
                    {
                        double weight = Weighting switch
                        {
                            Weighting.Weight => weights[i],
                            Weighting.OnePlusWeight => 1 + (double)weights[i],
                            _ => 1,
                        };
                        normalized[i] = input[start + i] * scale * weight;
                    }

                    var expected = (double[])normalized.Clone();
                    var magnitude = normalized.Select(Math.Abs).ToArray();
                    for (int pair = 0; pair < pairs; pair++)
                    {
                        int first = layout == RopeLayout.Interleaved ? 2 * pair : pair;
                        int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                        double angle = Positions[token] * frequencies[pair], cos = Math.Cos(angle), sin = Math.Sin(angle);
                        expected[first] = normalized[first] * cos - normalized[second] * sin;
                        expected[second] = normalized[first] * sin + normalized[second] * cos;
                        magnitude[first] = magnitude[second] = Math.Max(Math.Abs(normalized[first]), Math.Abs(normalized[second]));
                    }

                    for (int i = 0; i < HeadDim; i++)
                    {
                        float value = actual[start + i];
                        if (double.IsNaN(expected[i]) || double.IsNaN(magnitude[i]))
                        {
                            Assert.True(float.IsNaN(value), $"{context}: token {token} head {head} element {i}: expected NaN, got {value}.");
                            continue;
                        }

                        double error = Math.Abs(value - expected[i]), allowed = bound * magnitude[i] + SubnormalSlack;
                        if (!(error <= allowed))
                        {
                            Assert.Fail($"{context}: token {token} head {head} element {i}: got {value:R}, expected {expected[i]:R}, error {error:E3} > {allowed:E3}.");
                        }
                    }
                }
            }
        }

        private float[] Activations(Random random, int heads)
        {
            var values = new float[heads * HeadDim];
            for (int head = 0; head < heads; head++)
            {
                float size = MathF.Pow(10, random.Next(-3, 4));
                for (int i = 0; i < HeadDim; i++)
                {
                    values[head * HeadDim + i] = random.Next(20) == 0 ? 0 : size * (2 * random.NextSingle() - 1);
                }
            }

            return values;
        }

        private float[] Weights(Random random) =>
            [.. Enumerable.Range(0, HeadDim).Select(_ => Weighting == Weighting.OnePlusWeight ? 0.2f * random.NextSingle() - 0.1f : 0.5f + random.NextSingle())];
    }
}
