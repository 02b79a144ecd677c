using System.Numerics;
using System.Numerics.Tensors;

namespace Rope.Simd.Bench.Peers;

/// <summary>
/// What a .NET developer would write without Rope.Simd, over the same float32 table rows: a plain scalar loop, the
/// per-head vectorized loop pure C# inference engines keep over split cos/sin caches, and a composition of
/// <see cref="TensorPrimitives"/> calls on those caches (the last two half-split only, as such engines keep it:
/// TensorPrimitives has no strided or interleaving operation).
/// </summary>
internal sealed class ReferenceLoops
{
    private readonly float[] cosCache, sinCache, first, second;
    private readonly int halfDim;

    public ReferenceLoops(RopeTable table)
    {
        halfDim = table.RotaryDim / 2;
        // Split caches as ONNX and vLLM keep them: [position][rotaryDim/2] each (the table starts at position 0).
        cosCache = new float[table.PositionCount * halfDim];
        sinCache = new float[table.PositionCount * halfDim];
        for (int position = 0; position < table.PositionCount; position++)
        {
            ReadOnlySpan<float> row = table.GetRow(table.FirstPosition + position);
            for (int i = 0; i < halfDim; i++)
            {
                cosCache[position * halfDim + i] = row[2 * i];
                sinCache[position * halfDim + i] = row[2 * i + 1];
            }
        }

        first = new float[halfDim];
        second = new float[halfDim];
    }

    /// <summary>The textbook loop: per token, head and pair, two multiplies and a multiply-add each.</summary>
    public static void Scalar(RopeTable table, Span<float> values, int tokens, int start, int heads, int headDim, RopeLayout layout)
    {
        int pairs = table.RotaryDim / 2;
        for (int token = 0; token < tokens; token++)
        {
            ReadOnlySpan<float> row = table.GetRow(start + token);
            for (int head = 0; head < heads; head++)
            {
                Span<float> x = values.Slice((token * heads + head) * headDim, headDim);
                for (int i = 0; i < pairs; i++)
                {
                    int a = layout == RopeLayout.Interleaved ? 2 * i : i, b = layout == RopeLayout.Interleaved ? 2 * i + 1 : i + pairs;
                    float cos = row[2 * i], sin = row[2 * i + 1], xa = x[a], xb = x[b];
                    x[a] = xa * cos - xb * sin;
                    x[b] = xa * sin + xb * cos;
                }
            }
        }
    }

    /// <summary>
    /// Half-split rotation as pure C# engines write it: per token and head, <see cref="Vector{T}"/> registers of first
    /// halves, second halves, cos and sin (from the <c>[position][rotaryDim/2]</c> caches) combined, then a scalar tail.
    /// </summary>
    public void VectorHalfSplit(Span<float> values, int tokens, int start, int heads, int headDim)
    {
        int width = Vector<float>.Count, whole = halfDim - halfDim % width;
        for (int token = 0; token < tokens; token++)
        {
            int position = start + token;
            ReadOnlySpan<float> cos = cosCache.AsSpan(position * halfDim, halfDim), sin = sinCache.AsSpan(position * halfDim, halfDim);
            for (int head = 0; head < heads; head++)
            {
                Span<float> x = values.Slice((token * heads + head) * headDim, headDim);
                Span<float> a = x[..halfDim], b = x.Slice(halfDim, halfDim);
                for (int i = 0; i < whole; i += width)
                {
                    var va = new Vector<float>(a[i..]);
                    var vb = new Vector<float>(b[i..]);
                    var vc = new Vector<float>(cos[i..]);
                    var vs = new Vector<float>(sin[i..]);
                    (va * vc - vb * vs).CopyTo(a[i..]);
                    (va * vs + vb * vc).CopyTo(b[i..]);
                }

                for (int i = whole; i < halfDim; i++)
                {
                    float xa = a[i], xb = b[i];
                    a[i] = xa * cos[i] - xb * sin[i];
                    b[i] = xa * sin[i] + xb * cos[i];
                }
            }
        }
    }

    /// <summary>Half-split rotation as TensorPrimitives calls per head: a' = a·cos − b·sin, b' = a·sin + b·cos.</summary>
    public void TensorPrimitivesHalfSplit(Span<float> values, int tokens, int start, int heads, int headDim)
    {
        for (int token = 0; token < tokens; token++)
        {
            int position = start + token;
            ReadOnlySpan<float> cos = cosCache.AsSpan(position * halfDim, halfDim), sin = sinCache.AsSpan(position * halfDim, halfDim);
            for (int head = 0; head < heads; head++)
            {
                Span<float> a = values.Slice((token * heads + head) * headDim, halfDim), b = values.Slice((token * heads + head) * headDim + halfDim, halfDim);
                TensorPrimitives.Multiply(b, cos, second);
                TensorPrimitives.MultiplyAdd(a, sin, second, second);
                TensorPrimitives.Multiply(b, sin, first);
                TensorPrimitives.Negate(first, first);
                TensorPrimitives.MultiplyAdd(a, cos, first, a);
                second.CopyTo(b);
            }
        }
    }
}
