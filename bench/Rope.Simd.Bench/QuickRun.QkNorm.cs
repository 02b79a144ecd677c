using System.Numerics.Tensors;
using Rope.Simd.Bench.Peers;

namespace Rope.Simd.Bench;

// QK norm fused with rotation (Qwen3, Gemma 3, OLMo 2 normalize queries and keys per head before rotating them).
internal static partial class QuickRun
{
    private const float NormEpsilon = 1e-6f;

    /// <summary>
    /// Queries and keys of 32 + 8 heads of 128, RMS-normalized per head with their own weights and rotated
    /// (half-split, as Qwen3): Rope.Simd's one-pass call against the same work in two passes (a TensorPrimitives RMS
    /// norm per head, then Rope.Simd's rotation) and against ggml's graph for it (rms_norm, mul, rope_ext, one graph
    /// per tensor); the limit streams the same query and key bytes once.
    /// </summary>
    private static Comparison QkNorm(RopeTable table, int tokens, int start)
    {
        var queryShape = new RopeShape(tokens, Heads, HeadDim);
        var keyShape = new RopeShape(tokens, KeyHeads, HeadDim);
        int queryElements = queryShape.RequiredLength, elements = queryElements + keyShape.RequiredLength;
        float[] input = RandomActivations(elements, seed: 6);
        var random = new Random(6);
        float[] queryWeights = [.. Enumerable.Range(0, HeadDim).Select(_ => 0.5f + random.NextSingle())];
        float[] keyWeights = [.. Enumerable.Range(0, HeadDim).Select(_ => 0.5f + random.NextSingle())];
        const RopeLayout layout = RopeLayout.HalfSplit;
        (float[] normalized, double[] expected) = NormalizedAndRotated(input, queryElements, queryWeights, keyWeights, tokens, start, table, layout);
        var buffer = new AlignedBuffer(elements);
        input.CopyTo(buffer.Span);
        string title = tokens == 1
            ? $"QK norm + RoPE, float32 decode q+k 1 x ({Heads} + {KeyHeads}) x {HeadDim} at position {start}"
            : $"QK norm + RoPE, float32 prefill q+k {tokens} x ({Heads} + {KeyHeads}) x {HeadDim}";
        var comparison = Comparison.OverBuffer(title, elements, buffer, BandwidthLimit.Operation.MultiplyAdd);
        Span<float> Queries() => buffer.Span[..queryElements];
        Span<float> Keys() => buffer.Span[queryElements..];

        string Check(Action run, Func<float[]> result)
        {
            input.CopyTo(buffer.Span);
            run();
            return Errors.Single(normalized, result(), expected, HeadDim, layout);
        }

        RopeEngine engine = RopeEngine.Default;
        string fused = $"Rope.Simd {engine.Path} ApplyWithNorm, one pass";
        void Fused() => engine.ApplyWithNorm(table, Queries(), queryShape, RopeHeadNorm.Rms(queryWeights, NormEpsilon),
            Keys(), keyShape, RopeHeadNorm.Rms(keyWeights, NormEpsilon), start, layout);
        comparison.Add(new(fused, Fused, () => Check(Fused, () => buffer.Span.ToArray())));

        void TwoPasses()
        {
            NormalizeHeads(Queries(), queryWeights);
            NormalizeHeads(Keys(), keyWeights);
            engine.Apply(table, Queries(), queryShape, Keys(), keyShape, start, layout);
        }

        comparison.Add(new("two passes: TensorPrimitives RMS norm per head, then Rope.Simd Apply", TwoPasses,
            () => Check(TwoPasses, () => buffer.Span.ToArray()), fused));

        if (Ggml.TryCreateNormalized(tokens, start, Heads, HeadDim, layout, Base, queryWeights, NormEpsilon) is Ggml queries
            && Ggml.TryCreateNormalized(tokens, start, KeyHeads, HeadDim, layout, Base, keyWeights, NormEpsilon) is Ggml keys)
        {
            void Graph()
            {
                queries.Rotate();
                keys.Rotate();
            }

            comparison.Add(new("ggml rms_norm + mul + rope_ext mode 2 (HalfSplit), one graph per tensor", Graph, () =>
            {
                input.AsSpan(0, queryElements).CopyTo(queries.Values<float>());
                input.AsSpan(queryElements).CopyTo(keys.Values<float>());
                Graph();
                return Errors.Single(normalized, [.. queries.Output<float>(), .. keys.Output<float>()], expected, HeadDim, layout);
            }, fused));
        }

        return comparison;
    }

    /// <summary>What a runtime without the fused call does: each head's RMS norm by TensorPrimitives, in place.</summary>
    private static void NormalizeHeads(Span<float> values, float[] weights)
    {
        for (int start = 0; start < values.Length; start += HeadDim)
        {
            Span<float> head = values.Slice(start, HeadDim);
            float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(head) / HeadDim + NormEpsilon);
            TensorPrimitives.Multiply(head, scale, head);
            TensorPrimitives.Multiply(head, weights, head);
        }
    }

    /// <summary>
    /// The exact norm (in double, rounded to float: the units errors are measured in) and the exact norm and rotation in
    /// double, for queries then keys laid out one after the other.
    /// </summary>
    private static (float[] Normalized, double[] Expected) NormalizedAndRotated(float[] input, int queryElements, float[] queryWeights,
        float[] keyWeights, int tokens, int start, RopeTable table, RopeLayout layout)
    {
        var normalized = new double[input.Length];
        for (int head = 0; head < input.Length / HeadDim; head++)
        {
            int offset = head * HeadDim;
            float[] weights = offset < queryElements ? queryWeights : keyWeights;
            double sum = 0;
            for (int i = 0; i < HeadDim; i++)
            {
                sum += (double)input[offset + i] * input[offset + i];
            }

            double scale = 1 / Math.Sqrt(sum / HeadDim + NormEpsilon);
            for (int i = 0; i < HeadDim; i++)
            {
                normalized[offset + i] = input[offset + i] * scale * weights[i];
            }
        }

        double[] expected = [.. normalized];
        ReadOnlySpan<double> frequencies = table.Frequencies.InverseFrequencies;
        int pairs = HeadDim / 2;
        for (int head = 0; head < input.Length / HeadDim; head++)
        {
            int offset = head * HeadDim;
            int headsPerToken = offset < queryElements ? Heads : KeyHeads;
            int token = (offset < queryElements ? head : head - queryElements / HeadDim) / headsPerToken;
            for (int pair = 0; pair < pairs; pair++)
            {
                int first = offset + (layout == RopeLayout.Interleaved ? 2 * pair : pair);
                int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                double angle = (start + token) * frequencies[pair];
                (double sin, double cos) = Math.SinCos(angle);
                expected[first] = normalized[first] * cos - normalized[second] * sin;
                expected[second] = normalized[first] * sin + normalized[second] * cos;
            }
        }

        return ([.. normalized.Select(value => (float)value)], expected);
    }
}
