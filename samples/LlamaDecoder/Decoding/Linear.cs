using System.Numerics.Tensors;

namespace Rope.Simd.Samples.LlamaDecoder.Decoding;

/// <summary>y = x·Wᵀ for row-major activations x [tokens][inputs] and weights W [outputs][inputs]: dot products, blocks of
/// output rows over the threads, each weight row read once for all tokens.</summary>
internal sealed class Linear(ParallelOptions parallel)
{
    private const int RowsPerBlock = 32;

    public void Multiply(ReadOnlySpan<float> input, float[] weights, Span<float> output, int tokens)
    {
        int inputs = input.Length / tokens, outputs = output.Length / tokens;
        if ((long)inputs * outputs != weights.Length)
        {
            throw new ArgumentException($"Weights of {weights.Length} do not map {inputs} inputs to {outputs} outputs.", nameof(weights));
        }

        unsafe
        {
            fixed (float* x = input, y = output)
            {
                float* xs = x, ys = y;
                int blocks = (outputs + RowsPerBlock - 1) / RowsPerBlock;
                Parallel.For(0, blocks, parallel, block =>
                {
                    var source = new ReadOnlySpan<float>(xs, tokens * inputs);
                    var destination = new Span<float>(ys, tokens * outputs);
                    int end = Math.Min(outputs, (block + 1) * RowsPerBlock);
                    for (int o = block * RowsPerBlock; o < end; o++)
                    {
                        ReadOnlySpan<float> row = weights.AsSpan(o * inputs, inputs);
                        for (int t = 0; t < tokens; t++)
                        {
                            destination[t * outputs + o] = TensorPrimitives.Dot(source.Slice(t * inputs, inputs), row);
                        }
                    }
                });
            }
        }
    }
}
