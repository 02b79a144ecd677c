using System.Runtime.InteropServices;
using Rope.Simd;
using Rope.Simd.Bench.Peers;

namespace Rope.Simd.CrossChecks;

/// <summary>
/// ggml_rope_ext / ggml_rope_multi (llama.cpp's CPU backend) against Rope.Simd rotating with
/// <see cref="RopeScaling.Ggml"/> of the same arguments and the layout of the same mode: the same results within
/// ggml's own float32 error (its angles are float32 products, off by up to a few units in 2^-24 relative, times the
/// angle; for positions below 512, 2^-12 of the pair's magnitude covers it, while a wrong schedule misses by whole
/// radians).
/// </summary>
public sealed unsafe class GgmlRopeCrossCheckTests
{
    private const int Tokens = 64, Heads = 4, HeadDim = 128, MaxPosition = 512;
    private const double Tolerance = 1.0 / 4096;

    public static TheoryData<string> Cases =>
    [
        "normal, plain", "neox, linear 4", "neox, yarn 4", "neox, yarn half mixed", "normal, freq factors, attn factor 0.9", "mrope 16/24/24",
        "normal, partial rotary 64 of 128", "vision 32/32/32/32",
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void RopeSimdWithTheMappedScheduleIsGgml(string name)
    {
        Assert.SkipWhen(Ggml.LoadError is not null, $"llama.cpp's ggml could not load here: {Ggml.LoadError}");
        (int mode, int dims, float @base, float freqScale, float extFactor, float attnFactor, float[]? factors) = name switch
        {
            "normal, plain" => (0, 128, 10000f, 1f, 0f, 1f, (float[]?)null),
            "neox, linear 4" => (2, 128, 1000000f, 0.25f, 0f, 1f, null),
            "neox, yarn 4" => (2, 128, 1000000f, 0.25f, 1f, 1f, null),
            "neox, yarn half mixed" => (2, 128, 10000f, 0.125f, 0.5f, 1f, null),
            "normal, freq factors, attn factor 0.9" => (0, 128, 500000f, 1f, 0f, 0.9f, [.. Enumerable.Range(0, 64).Select(i => 1f + i / 8f)]),
            "mrope 16/24/24" => (8, 128, 1000000f, 1f, 0f, 1f, null),
            "vision 32/32/32/32" => (24, 64, 10000f, 1f, 0f, 1f, null),
            _ => (0, 64, 10000f, 1f, 0f, 1f, null),
        };
        const int originalContext = 4096;
        const float betaFast = 32, betaSlow = 1;
        int[] sections = mode == 24 ? [32, 32, 32, 32] : [16, 24, 24, 0];
        var random = new Random(name.Length);
        float[] input = [.. Enumerable.Range(0, Tokens * Heads * HeadDim).Select(_ => 4 * random.NextSingle() - 2)];
        int[] positions = [.. Enumerable.Range(0, Tokens).Select(_ => random.Next(MaxPosition))];
        int[][] streams = [positions, [.. positions.Select(p => p / 3)], [.. positions.Select(p => p % 17)], new int[Tokens]];

        float[] ggml = GgmlRope.Run(input, mode is 8 or 24 ? [.. streams.SelectMany(s => s)] : positions, factors, dims, mode, originalContext, @base,
            freqScale, extFactor, attnFactor, betaFast, betaSlow, sections);

        RopeFrequencies frequencies = mode == 24
            ? RopeScaling.GgmlVision(HeadDim, @base, freqScale, attnFactor, sections)
            : RopeScaling.Ggml(dims, @base, freqScale, extFactor, attnFactor, betaFast, betaSlow, originalContext,
                factors is null ? default : [.. factors.Select(f => (double)f)]);
        var table = RopeTable.Create(frequencies, 0, MaxPosition);
        float[] ours = [.. input];
        var shape = new RopeShape(Tokens, Heads, HeadDim);
        RopeLayout layout = mode == 0 ? RopeLayout.Interleaved : RopeLayout.HalfSplit;
        if (mode == 8)
        {
            RopeEngine.Default.Apply(table, ours.AsSpan(), shape, RopePositions.Multimodal(streams[0], streams[1], streams[2],
                MropeSections.Contiguous(sections[0], sections[1], sections[2])), layout);
        }
        else if (mode == 24)
        {
            // The 64 pairs reach sections 0 and 1 only.
            RopeEngine.Default.Apply(table, ours.AsSpan(), shape, RopePositions.Multimodal(streams[0], streams[1], streams[2],
                MropeSections.Contiguous(sections[0], sections[1], 0)), layout);
        }
        else
        {
            RopeEngine.Default.Apply(table, ours.AsSpan(), shape, positions, layout);
        }

        double worst = 0;
        for (int head = 0; head < Tokens * Heads; head++)
        {
            double magnitude = 0;
            for (int i = 0; i < HeadDim; i++)
            {
                magnitude = Math.Max(magnitude, Math.Abs(input[head * HeadDim + i]));
            }

            for (int i = 0; i < HeadDim; i++)
            {
                worst = Math.Max(worst, Math.Abs(ours[head * HeadDim + i] - ggml[head * HeadDim + i]) / magnitude);
            }
        }

        Assert.True(worst <= Tolerance * Math.Max(1, attnFactor * (1 + 0.1 * Math.Log(1 / freqScale))),
            $"{name}: largest difference {worst:E3} of the head's magnitude");
    }

    /// <summary>One ggml graph rotating [tokens][heads][headDim] float32 values on the CPU backend.</summary>
    private static class GgmlRope
    {
        private const int TypeF32 = 0, TypeI32 = 26;

        [StructLayout(LayoutKind.Sequential)]
        private struct InitParams
        {
            public nuint MemorySize;
            public nint MemoryBuffer;
            public byte NoAlloc;
        }

        public static float[] Run(float[] input, int[] positions, float[]? factors, int dims, int mode, int originalContext, float @base,
            float freqScale, float extFactor, float attnFactor, float betaFast, float betaSlow, int[] sections)
        {
            nint context = ggml_init(new InitParams { MemorySize = (nuint)(4 * input.Length * 4 + (1 << 20)) });
            try
            {
                nint values = ggml_new_tensor_3d(context, TypeF32, HeadDim, Heads, Tokens);
                input.CopyTo(new Span<float>((void*)ggml_get_data(values), input.Length));
                nint ids = ggml_new_tensor_1d(context, TypeI32, positions.Length);
                positions.CopyTo(new Span<int>((void*)ggml_get_data(ids), positions.Length));
                nint freqFactors = 0;
                if (factors is not null)
                {
                    freqFactors = ggml_new_tensor_1d(context, TypeF32, factors.Length);
                    factors.CopyTo(new Span<float>((void*)ggml_get_data(freqFactors), factors.Length));
                }

                nint output;
                fixed (int* section = sections)
                {
                    output = mode is 8 or 24
                        ? ggml_rope_multi(context, values, ids, freqFactors, dims, section, mode, originalContext, @base, freqScale, extFactor, attnFactor,
                            betaFast, betaSlow)
                        : ggml_rope_ext(context, values, ids, freqFactors, dims, mode, originalContext, @base, freqScale, extFactor, attnFactor,
                            betaFast, betaSlow);
                }

                nint graph = ggml_new_graph(context);
                ggml_build_forward_expand(graph, output);
                nint backend = ggml_backend_cpu_init();
                try
                {
                    int status = ggml_backend_graph_compute(backend, graph);
                    Assert.Equal(0, status);
                }
                finally
                {
                    ggml_backend_free(backend);
                }

                return new Span<float>((void*)ggml_get_data(output), input.Length).ToArray();
            }
            finally
            {
                ggml_free(context);
            }
        }

        [DllImport("ggml-base")]
        private static extern nint ggml_init(InitParams parameters);

        [DllImport("ggml-base")]
        private static extern void ggml_free(nint context);

        [DllImport("ggml-base")]
        private static extern nint ggml_new_tensor_1d(nint context, int type, long ne0);

        [DllImport("ggml-base")]
        private static extern nint ggml_new_tensor_3d(nint context, int type, long ne0, long ne1, long ne2);

        [DllImport("ggml-base")]
        private static extern nint ggml_get_data(nint tensor);

        [DllImport("ggml-base")]
        private static extern nint ggml_rope_ext(nint context, nint a, nint positions, nint frequencyFactors, int dimensions, int mode,
            int originalContext, float frequencyBase, float frequencyScale, float extensionFactor, float attentionFactor, float betaFast, float betaSlow);

        [DllImport("ggml-base")]
        private static extern nint ggml_rope_multi(nint context, nint a, nint positions, nint frequencyFactors, int dimensions, int* sections, int mode,
            int originalContext, float frequencyBase, float frequencyScale, float extensionFactor, float attentionFactor, float betaFast, float betaSlow);

        [DllImport("ggml-base")]
        private static extern nint ggml_new_graph(nint context);

        [DllImport("ggml-base")]
        private static extern void ggml_build_forward_expand(nint graph, nint tensor);

        [DllImport("ggml-base")]
        private static extern int ggml_backend_graph_compute(nint backend, nint graph);

        [DllImport("ggml-base")]
        private static extern void ggml_backend_free(nint backend);

        [DllImport("ggml-cpu")]
        private static extern nint ggml_backend_cpu_init();
    }
}
