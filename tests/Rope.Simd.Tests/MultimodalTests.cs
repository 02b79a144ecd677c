using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>Multimodal RoPE: three position streams per token, each pair following its section.</summary>
public class MultimodalTests
{
    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void EveryPairRotatesByItsStreamsPosition(RopePath path, RopeLayout layout)
    {
        var table = RopeTable.Create(RopeFrequencies.Create(128, 1000000), 0, 600);
        foreach (MropeSections sections in (MropeSections[])[MropeSections.Contiguous(16, 24, 24), MropeSections.Interleaved(24, 20, 20)])
        {
            var shape = new RopeShape(tokens: 5, heads: 3, headDim: 136);
            float[] input = TestData.Activations(new Random(21), shape.RequiredLength);
            int[] temporal = [0, 4, 4, 4, 500], height = [0, 10, 11, 12, 500], width = [0, 20, 21, 599, 500];
            float[] actual = (float[])input.Clone();

            RopeEngine.Get(path).Apply(table, actual, shape, RopePositions.Multimodal(temporal, height, width, sections), layout);

            double[] expected = Expected(input, shape, table, sections, [temporal, height, width], layout);
            RotationOracle.AssertClose(input, actual, expected, shape.HeadDim, 128, layout, $"{path} {layout} M-RoPE");
        }
    }

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void TextTokensWithEqualStreamsRotateLikeOnePosition(RopePath path)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var table = RopeTable.Create(RopeFrequencies.Create(128, 1000000), 0, 64);
        var shape = new RopeShape(tokens: 4, heads: 2, headDim: 128);
        int[] positions = [3, 9, 27, 63];
        float[] input = TestData.Activations(new Random(22), shape.RequiredLength);
        float[] multimodal = (float[])input.Clone(), plain = (float[])input.Clone();
        ushort[] bf16 = PackedElements.Round(PackedType.BFloat16, input), bf16Plain = (ushort[])bf16.Clone();

        engine.Apply(table, multimodal, shape, RopePositions.Multimodal(positions, positions, positions, MropeSections.Contiguous(16, 24, 24)), RopeLayout.HalfSplit);
        engine.Apply(table, plain, shape, positions, RopeLayout.HalfSplit);
        PackedElements.Apply(engine, PackedType.BFloat16, table, bf16, shape,
            RopePositions.Multimodal(positions, positions, positions, MropeSections.Interleaved(24, 20, 20)), RopeLayout.Interleaved);
        PackedElements.Apply(engine, PackedType.BFloat16, table, bf16Plain, shape, positions, RopeLayout.Interleaved);

        Assert.Equal(plain, multimodal);
        Assert.Equal(bf16Plain, bf16);
    }

    [Fact]
    public void InterleavedSectionsFollowTheQwen3Rule()
    {
        MropeSections sections = MropeSections.Interleaved(24, 20, 20);
        Assert.Equal(64, sections.PairCount);
        int[] streams = [.. Enumerable.Range(0, 64).Select(sections.StreamOf)];
        Assert.Equal([0, 1, 2, 0, 1, 2], streams[..6]);
        Assert.Equal([0, 1, 2, 0, 0, 0], streams[57..63]); // past 3·20 = 60 only the temporal stream is left
        Assert.Equal([.. Enumerable.Repeat(MropeSections.Width, 24)], Enumerable.Range(40, 24).Select(MropeSections.Contiguous(16, 24, 24).StreamOf));
    }

    [Fact]
    public void BadMultimodalPositionsAreRejected()
    {
        var table = RopeTable.Create(128, 100);
        var shape = new RopeShape(2, 1, 128);
        var values = new float[shape.RequiredLength];
        int[] two = [1, 2], one = [1], outside = [1, 100];
        Assert.Throws<ArgumentException>(() => RopeEngine.Default.Apply(table, values, shape,
            RopePositions.Multimodal(two, two, two, MropeSections.Contiguous(16, 24, 16)), RopeLayout.HalfSplit));
        Assert.Throws<ArgumentException>(() => RopeEngine.Default.Apply(table, values, shape,
            RopePositions.Multimodal(two, one, two, MropeSections.Contiguous(16, 24, 24)), RopeLayout.HalfSplit));
        Assert.Throws<ArgumentOutOfRangeException>(() => RopeEngine.Default.Apply(table, values, shape,
            RopePositions.Multimodal(two, two, outside, MropeSections.Contiguous(16, 24, 24)), RopeLayout.HalfSplit));
        Assert.Throws<ArgumentOutOfRangeException>(() => MropeSections.Contiguous(-1, 24, 24));
        Assert.Throws<ArgumentNullException>(() => RopePositions.Multimodal(two, two, two, null!));
    }

    /// <summary>The double-precision rotation with each pair's angle from its own stream's position.</summary>
    private static double[] Expected(float[] input, RopeShape shape, RopeTable table, MropeSections sections, int[][] streams, RopeLayout layout)
    {
        ReadOnlySpan<double> omega = table.Frequencies.InverseFrequencies;
        var expected = input.Select(v => (double)v).ToArray();
        int pairs = omega.Length;
        for (int token = 0; token < shape.Tokens; token++)
        {
            for (int head = 0; head < shape.Heads; head++)
            {
                int start = (token * shape.Heads + head) * shape.HeadDim;
                for (int pair = 0; pair < pairs; pair++)
                {
                    double angle = streams[sections.StreamOf(pair)][token] * omega[pair];
                    int first = start + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                    int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                    double a = input[first], b = input[second];
                    expected[first] = a * Math.Cos(angle) - b * Math.Sin(angle);
                    expected[second] = a * Math.Sin(angle) + b * Math.Cos(angle);
                }
            }
        }

        return expected;
    }
}
