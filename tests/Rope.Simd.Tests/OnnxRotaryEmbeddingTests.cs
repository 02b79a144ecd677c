using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// ONNX RotaryEmbedding-23 through Rope.Simd, every input form and attribute as docs/layouts.md maps them, against a
/// reference written from the operator's specification (in double), with random caches as ONNX's own tests use.
/// </summary>
public class OnnxRotaryEmbeddingTests
{
    public static TheoryData<RopePath, bool, bool, bool, int> Cases
    {
        get
        {
            var data = new TheoryData<RopePath, bool, bool, bool, int>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (bool fourDimensional in (bool[])[false, true])
                {
                    foreach (bool withPositionIds in (bool[])[false, true])
                    {
                        foreach (bool interleaved in (bool[])[false, true])
                        {
                            foreach (int rotaryEmbeddingDim in (int[])[0, 16])
                            {
                                data.Add(engine.Path, fourDimensional, withPositionIds, interleaved, rotaryEmbeddingDim);
                            }
                        }
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryFormMatchesTheSpecification(RopePath path, bool fourDimensional, bool withPositionIds, bool interleaved, int rotaryEmbeddingDim)
    {
        const int Batch = 2, Sequence = 5, NumHeads = 3, HeadSize = 24, MaxPositions = 40;
        var random = new Random(HashCode.Combine(path, fourDimensional, withPositionIds, interleaved, rotaryEmbeddingDim));
        int rotaryDim = rotaryEmbeddingDim == 0 ? HeadSize : rotaryEmbeddingDim, half = rotaryDim / 2;

        // input: [batch, sequence, num_heads·head_size] (3D, num_heads given) or [batch, num_heads, sequence, head_size] (4D).
        float[] input = TestData.Activations(random, Batch * Sequence * NumHeads * HeadSize);
        long[] positionIds = [.. Enumerable.Range(0, Batch * Sequence).Select(_ => (long)random.Next(MaxPositions))];
        // Caches: [max_position, rotary/2] indexed by position_ids, or [batch, sequence, rotary/2] without them; random
        // values as in ONNX's backend tests, so cos² + sin² is not 1.
        int cacheRows = withPositionIds ? MaxPositions : Batch * Sequence;
        float[] cosCache = [.. Enumerable.Range(0, cacheRows * half).Select(_ => (float)random.NextDouble())];
        float[] sinCache = [.. Enumerable.Range(0, cacheRows * half).Select(_ => (float)random.NextDouble())];

        // The mapping: shape from the input's rank, rows from the caches, positions from position_ids or, without
        // them, each sequence starting at its own block of cache rows.
        RopeShape shape = fourDimensional ? RopeShape.Bhsd(Batch, NumHeads, Sequence, HeadSize) : RopeShape.Bshd(Batch, Sequence, NumHeads, HeadSize);
        RopeRows rows = RopeRows.Separate<float>(cosCache, sinCache, rotaryDim);
        int[] sequenceStarts = [.. Enumerable.Range(0, Batch).Select(b => b * Sequence)];
        RopePositions positions = withPositionIds ? positionIds : RopePositions.Sequential(sequenceStarts);
        RopeLayout layout = interleaved ? RopeLayout.Interleaved : RopeLayout.HalfSplit;
        float[] output = new float[input.Length];
        RopeEngine.Get(path).Apply(rows, input, output, shape, positions, layout);

        double[] expected = Specification(input, fourDimensional, Batch, Sequence, NumHeads, HeadSize, cosCache, sinCache,
            withPositionIds ? positionIds : null, interleaved, rotaryEmbeddingDim);
        for (int i = 0; i < input.Length; i++)
        {
            // |c|, |s| < 1: twice the float32 bound of a rotation of inputs up to M.
            double bound = 4.0 / (1 << 23) * MaxInputOfPair(input, i, HeadSize, rotaryDim, interleaved) + 1e-44;
            Assert.InRange(output[i], expected[i] - bound, expected[i] + bound);
        }
    }

    /// <summary>
    /// RotaryEmbedding-23 as its specification states it: a 4D input is transposed to [batch, sequence, heads, head],
    /// a 3D one reshaped with num_heads; the first rotary_embedding_dim elements of each head (all when 0) are split into
    /// halves, or into even and odd elements when interleaved; cos and sin are cache[position_ids] or the caches
    /// themselves; real = cos·x1 − sin·x2, imag = sin·x1 + cos·x2; the rest of each head passes through.
    /// </summary>
    private static double[] Specification(float[] input, bool fourDimensional, int batch, int sequence, int heads, int headSize,
        float[] cosCache, float[] sinCache, long[]? positionIds, bool interleaved, int rotaryEmbeddingDim)
    {
        int rotary = rotaryEmbeddingDim == 0 ? headSize : rotaryEmbeddingDim, half = rotary / 2;
        var output = new double[input.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int s = 0; s < sequence; s++)
            {
                long cacheRow = positionIds is null ? b * sequence + s : positionIds[b * sequence + s];
                for (int h = 0; h < heads; h++)
                {
                    int start = fourDimensional ? ((b * heads + h) * sequence + s) * headSize : ((b * sequence + s) * heads + h) * headSize;
                    for (int d = rotary; d < headSize; d++)
                    {
                        output[start + d] = input[start + d];
                    }

                    for (int i = 0; i < half; i++)
                    {
                        double cos = cosCache[cacheRow * half + i], sin = sinCache[cacheRow * half + i];
                        int first = start + (interleaved ? 2 * i : i), second = start + (interleaved ? 2 * i + 1 : half + i);
                        double x1 = input[first], x2 = input[second];
                        output[first] = cos * x1 - sin * x2;
                        output[second] = sin * x1 + cos * x2;
                    }
                }
            }
        }

        return output;
    }

    private static double MaxInputOfPair(float[] input, int index, int headSize, int rotary, bool interleaved)
    {
        int start = index / headSize * headSize, d = index - start;
        if (d >= rotary)
        {
            return 0;
        }

        int half = rotary / 2, pair = interleaved ? d / 2 : d % half;
        int first = start + (interleaved ? 2 * pair : pair), second = start + (interleaved ? 2 * pair + 1 : half + pair);
        return Math.Max(Math.Abs(input[first]), Math.Abs(input[second]));
    }
}
