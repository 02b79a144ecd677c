using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// bfloat16 and float16 rotation: every path against the double reference under the rounding guarantee
/// (<see cref="PackedOracle"/>), and bit-identical results across paths, in this process and on every CPU.
/// </summary>
public class PackedRotationTests
{
    private const int HighPositionBase = RandomCase.HighPositionBase;

    [Theory]
    [MemberData(nameof(Paths.PackedTypesWithLayouts), MemberType = typeof(Paths))]
    public void EveryRotaryDimRoundsTheReferenceAndEveryPathGivesTheSameBits(PackedType type, RopeLayout layout)
    {
        var random = new Random(23);
        double worst = 0;
        foreach (int rotaryDim in RotationTests.RotaryDims)
        {
            var table = RopeTable.Create(RopeFrequencies.Create(rotaryDim), HighPositionBase, 64);
            foreach (int extra in (ReadOnlySpan<int>)[0, 6])
            {
                foreach (bool inverse in (ReadOnlySpan<bool>)[false, true])
                {
                    int headDim = rotaryDim + extra, tokens = 3, heads = 2;
                    int[] positions = [HighPositionBase, HighPositionBase + 63, HighPositionBase + 7];
                    ushort[] input = PackedElements.Activations(type, random, tokens * heads * headDim);
                    double[] expected = PackedOracle.Expected(type, input, positions, table, heads, headDim, layout, inverse);
                    ushort[]? firstResult = null;
                    foreach (RopeEngine engine in RopeEngine.Supported)
                    {
                        ushort[] actual = (ushort[])input.Clone();
                        PackedElements.Apply(engine, type, table, actual, new RopeShape(tokens, heads, headDim), positions, layout, inverse);
                        string context = $"{engine.Path} {type} {layout} rotary {rotaryDim} head {headDim} inverse {inverse}";
                        worst = Math.Max(worst, PackedOracle.AssertRounded(type, input, actual, expected, headDim, rotaryDim, layout, context));
                        firstResult ??= actual;
                        Assert.True(firstResult.AsSpan().SequenceEqual(actual), $"{context}: differs from {RopeEngine.Supported[0].Path}.");
                    }
                }
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{type} {layout}: largest error {worst:F4} units in the last place");
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void RandomShapesStridesOffsetsAndGqaMatchReference(RopePath path, PackedType type)
    {
        RopeEngine engine = RopeEngine.Get(path), scalar = RopeEngine.Get(RopePath.Scalar);
        var random = new Random(4046 + (int)path);
        for (int trial = 0; trial < 100; trial++)
        {
            RandomCase problem = RandomCase.Next(random);
            (int rotaryDim, int headDim, int tokens, int queryHeads, int keyHeads, RopeLayout layout, bool inverse, bool outOfPlace,
                _, RopeTable table, int[] positions) = problem;
            RopePositions ropePositions = problem.RopePositions;

            // Odd offsets put 16-bit heads at addresses that are not 4-byte aligned.
            var querySource = StridedTensor.Create(type, PackedElements.Activations(type, random, tokens * queryHeads * headDim),
                StridedTensor.RandomShape(random, tokens, queryHeads, headDim), random.Next(16));
            var keySource = StridedTensor.Create(type, PackedElements.Activations(type, random, tokens * keyHeads * headDim),
                StridedTensor.RandomShape(random, tokens, keyHeads, headDim), random.Next(16));
            ushort[] queryInput = querySource.Gather(), keyInput = keySource.Gather();
            string context = $"{path} {type} trial {trial}: {problem} q {querySource.Shape} k {keySource.Shape}";

            StridedTensor<ushort> queryResult = querySource, keyResult = keySource;
            if (outOfPlace)
            {
                queryResult = StridedTensor.Create(type, new ushort[queryInput.Length], querySource.Shape, random.Next(16));
                keyResult = StridedTensor.Create(type, new ushort[keyInput.Length], keySource.Shape, random.Next(16));
                PackedElements.Apply(engine, type, table, querySource.Span, queryResult.Span, querySource.Shape,
                    keySource.Span, keyResult.Span, keySource.Shape, ropePositions, layout, inverse);
                Assert.Equal(queryInput, querySource.Gather());
            }
            else
            {
                PackedElements.Apply(engine, type, table, querySource.Span, querySource.Shape, keySource.Span, keySource.Shape,
                    ropePositions, layout, inverse);
            }

            queryResult.AssertCanariesIntact(context + " (queries)");
            keyResult.AssertCanariesIntact(context + " (keys)");
            ushort[] queryOutput = queryResult.Gather(), keyOutput = keyResult.Gather();
            PackedOracle.AssertRounded(type, queryInput, queryOutput, positions, table, queryHeads, headDim, layout, inverse, context);
            PackedOracle.AssertRounded(type, keyInput, keyOutput, positions, table, keyHeads, headDim, layout, inverse, context);

            ushort[] scalarQueries = (ushort[])queryInput.Clone(), scalarKeys = (ushort[])keyInput.Clone();
            PackedElements.Apply(scalar, type, table, scalarQueries, new RopeShape(tokens, queryHeads, headDim),
                scalarKeys, new RopeShape(tokens, keyHeads, headDim), positions, layout, inverse);
            Assert.True(scalarQueries.AsSpan().SequenceEqual(queryOutput) && scalarKeys.AsSpan().SequenceEqual(keyOutput),
                $"{context}: differs from the scalar path.");
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void OutOfPlaceEqualsInPlaceAndGqaInOneCallEqualsSeparateCalls(RopePath path, PackedType type)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(13);
        var table = RopeTable.Create(rotaryDim: 96, positionCount: 300, @base: 500000);
        var queryShape = new RopeShape(tokens: 5, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 5, heads: 8, headDim: 128);
        foreach (RopeLayout layout in (ReadOnlySpan<RopeLayout>)[RopeLayout.Interleaved, RopeLayout.HalfSplit])
        {
            ushort[] queries = PackedElements.Activations(type, random, queryShape.RequiredLength);
            ushort[] keys = PackedElements.Activations(type, random, keyShape.RequiredLength);
            ushort[] separateQueries = (ushort[])queries.Clone(), separateKeys = (ushort[])keys.Clone();
            var outOfPlace = new ushort[queries.Length];

            PackedElements.Apply(engine, type, table, queries, outOfPlace, queryShape, 250, layout);
            PackedElements.Apply(engine, type, table, queries, queryShape, keys, keyShape, 250, layout);
            PackedElements.Apply(engine, type, table, separateQueries, queryShape, 250, layout);
            PackedElements.Apply(engine, type, table, separateKeys, keyShape, 250, layout);

            Assert.Equal(outOfPlace, queries);
            Assert.Equal(separateQueries, queries);
            Assert.Equal(separateKeys, keys);
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void NaNAndInfinityPropagateAsInTheReference(RopePath path, PackedType type)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(rotaryDim: 40, positionCount: 8);
        var shape = new RopeShape(tokens: 4, heads: 2, headDim: 40);
        foreach (RopeLayout layout in (ReadOnlySpan<RopeLayout>)[RopeLayout.Interleaved, RopeLayout.HalfSplit])
        {
            ushort[] input = PackedElements.Activations(type, new Random(8), shape.RequiredLength);
            ushort nan = type == PackedType.BFloat16 ? (ushort)0x7FC1 : (ushort)0x7C01, infinity = type == PackedType.BFloat16 ? (ushort)0x7F80 : (ushort)0x7C00;
            input[0] = nan;
            input[3] = infinity;
            input[25] = (ushort)(infinity | 0x8000);
            input[41] = infinity;
            input[120] = (ushort)(nan | 0x8000);
            input[155] = type == PackedType.BFloat16 ? (ushort)0x7F7F : (ushort)0x7BFF;
            int[] positions = [0, 1, 5, 7];
            ushort[] actual = (ushort[])input.Clone();

            PackedElements.Apply(engine, type, table, actual, shape, positions, layout);

            double[] expected = PackedOracle.Expected(type, input, positions, table, shape.Heads, shape.HeadDim, layout, false);
            Assert.Contains(expected, double.IsNaN);
            PackedOracle.AssertRounded(type, input, actual, expected, 40, 40, layout, $"{path} {type} {layout} special values");
        }
    }

    /// <summary>
    /// bfloat16 rotation narrows its results by the rounding alone: NaN results must still get the exact rule's bits
    /// (upper half, quiet bit set), whether the NaN comes from an element or from float32 caller rows whose payload
    /// sits in the lower 16 bits (which the rounding would otherwise carry into the upper half). Expected: the same
    /// float32 products and sum in scalar code, narrowed by <see cref="BFloat16"/>'s conversion; one NaN source per pair.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void BFloat16NaNResultsHaveTheExactBits(RopePath path, RopeLayout layout)
    {
        const int rotaryDim = 64, pairs = rotaryDim / 2;
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(21);
        uint[] payloads = [0x7FFF_FFFF, 0x7F80_0001, 0xFFFF_8001, 0x7FBF_FFFF, 0xFFC0_8000, 0x7FC0_0001];
        float[] rows = new float[rotaryDim];
        for (int pair = 0; pair < pairs; pair++)
        {
            double angle = random.NextDouble() * 6;
            rows[2 * pair] = (float)Math.Cos(angle);
            rows[2 * pair + 1] = (float)Math.Sin(angle);
        }

        var values = new BFloat16[rotaryDim];
        for (int i = 0; i < rotaryDim; i++)
        {
            values[i] = (BFloat16)(float)(random.NextDouble() * 4 - 2);
        }

        // Pairs 0..5 take a NaN cos or sin from the rows, pairs 8..11 a NaN element (bfloat16 NaNs, signalling included).
        for (int k = 0; k < payloads.Length; k++)
        {
            rows[2 * k + (k % 2)] = BitConverter.UInt32BitsToSingle(payloads[k]);
        }

        ushort[] nans = [0x7FC1, 0x7F81, 0xFFFF, 0xFF81];
        for (int k = 0; k < nans.Length; k++)
        {
            int pair = 8 + k;
            int index = layout == RopeLayout.Interleaved ? 2 * pair + (k % 2) : pair + (k % 2) * pairs;
            values[index] = BFloat16.FromBits(nans[k]);
        }

        var actual = (BFloat16[])values.Clone();
        engine.Apply(RopeRows.Interleaved<float>(rows, rotaryDim), actual.AsSpan(), new RopeShape(1, 1, rotaryDim), 0, layout);

        for (int pair = 0; pair < pairs; pair++)
        {
            int first = layout == RopeLayout.Interleaved ? 2 * pair : pair, second = layout == RopeLayout.Interleaved ? 2 * pair + 1 : pair + pairs;
            float a = (float)values[first], b = (float)values[second], c = rows[2 * pair], sine = rows[2 * pair + 1];
            float rotatedFirst = a * c - b * sine, rotatedSecond = a * sine + b * c;
            Assert.Equal(((BFloat16)rotatedFirst).Bits, actual[first].Bits);
            Assert.Equal(((BFloat16)rotatedSecond).Bits, actual[second].Bits);
        }
    }

    /// <summary>
    /// A fixed rotation whose result hash is recorded here: every test leg (ISA knobs, ARM64 under emulation) checks that
    /// its paths produce exactly these bits, so the results are the same on every CPU, not only in one process. Half a
    /// million elements: enough that a one-ulp float32 difference (a fused multiply-add, say) crosses some rounding
    /// boundary and changes the hash.
    /// </summary>
    [Theory]
    [InlineData(PackedType.BFloat16, 1483222687785353812UL)]
    [InlineData(PackedType.Half, 4435445357632355140UL)]
    public void KnownResultIsTheSameBitsOnEveryCpu(PackedType type, ulong expectedHash)
    {
        var table = RopeTable.Create(RopeFrequencies.Create(96, 500000), 4000, 128);
        var shape = new RopeShape(tokens: 64, heads: 16, headDim: 128);
        ushort[] input = PackedElements.Activations(type, new Random(2026), shape.RequiredLength);
        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            ulong hash = 14695981039346656037; // FNV-1a over every 16-bit result
            foreach (RopeLayout layout in (ReadOnlySpan<RopeLayout>)[RopeLayout.Interleaved, RopeLayout.HalfSplit])
            {
                foreach (bool inverse in (ReadOnlySpan<bool>)[false, true])
                {
                    ushort[] values = (ushort[])input.Clone();
                    PackedElements.Apply(engine, type, table, values, shape, 4003, layout, inverse);
                    foreach (ushort value in values)
                    {
                        hash = (hash ^ value) * 1099511628211;
                    }
                }
            }

            Assert.Equal((engine.Path, expectedHash), (engine.Path, hash));
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void RotationAllocatesNothing(RopePath path, PackedType type)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(rotaryDim: 96, positionCount: 64);
        var queryShape = new RopeShape(tokens: 4, heads: 4, headDim: 128);
        var keyShape = new RopeShape(tokens: 4, heads: 2, headDim: 128);
        ushort[] queries = new ushort[queryShape.RequiredLength], keys = new ushort[keyShape.RequiredLength];
        ushort[] output = new ushort[queryShape.RequiredLength];
        float[] widened = new float[queryShape.RequiredLength];
        int[] positions = [3, 9, 27, 63];

        void RotateEveryWay()
        {
            foreach (RopeLayout layout in (ReadOnlySpan<RopeLayout>)[RopeLayout.Interleaved, RopeLayout.HalfSplit])
            {
                PackedElements.Apply(engine, type, table, queries, queryShape, 10, layout);
                PackedElements.Apply(engine, type, table, queries, queryShape, keys, keyShape, positions, layout, inverse: true);
                PackedElements.Apply(engine, type, table, queries, output, queryShape, positions, layout);
            }

            PackedElements.Widen(engine, type, output, widened);
            PackedElements.Narrow(engine, type, widened, queries);
        }

        Assert.Equal(0, Allocations.OfSteadyState(RotateEveryWay));
    }
}
