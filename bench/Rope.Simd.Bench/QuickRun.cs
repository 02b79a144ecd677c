using System.Runtime.InteropServices;
using Rope.Simd.Bench.Peers;

namespace Rope.Simd.Bench;

/// <summary>
/// The built-in comparison (the main job of the README): LLaMA-style shapes, 32 heads of 128, base 10000, one thread;
/// every Rope.Simd path against the same-bytes limit and against ggml, ONNX Runtime, TensorPrimitives and a naive loop where they
/// can do the same work; every case's largest error against <see cref="RopeReference"/>.
/// </summary>
internal static partial class QuickRun
{
    private const int Heads = 32, HeadDim = 128, PrefillTokens = 512, DecodePosition = 511;
    private const double Base = 10000;

    public static List<ResultRow> Run(TextWriter output)
    {
        var table = RopeTable.Create(rotaryDim: HeadDim, positionCount: 4096, @base: Base);
        var rows = new List<ResultRow>();
        output.WriteLine($"Peers: ggml {Ggml.LoadError ?? "loaded"}; ONNX Runtime {OnnxRuntime.LoadError ?? "loaded"}.");
        rows.AddRange(Single(table, PrefillTokens, 0, $"float32 prefill {PrefillTokens} x {Heads} x {HeadDim}", allPaths: true).Run(output));
        rows.AddRange(Single(table, 1, DecodePosition, $"float32 decode 1 x {Heads} x {HeadDim} at position {DecodePosition}", allPaths: false).Run(output));
        rows.AddRange(LongPromptKeys(table).Run(output));
        rows.AddRange(Packed(table, bfloat16: true).Run(output));
        rows.AddRange(Packed(table, bfloat16: false).Run(output));
        rows.AddRange(TwoThreads(table).Run(output));
        rows.AddRange(RowsComputedPerCall(table, PrefillTokens, 0).Run(output));
        rows.AddRange(RowsComputedPerCall(table, 1, DecodePosition).Run(output));
        rows.AddRange(CallerRowsAndBatches(table, PrefillTokens, 0).Run(output));
        rows.AddRange(CallerRowsAndBatches(table, 1, DecodePosition).Run(output));
        rows.AddRange(QkNorm(table, PrefillTokens, 0).Run(output));
        rows.AddRange(QkNorm(table, 1, DecodePosition).Run(output));
        rows.AddRange(KvAppend(table, PrefillTokens, 0, qwen3: false).Run(output));
        rows.AddRange(KvAppend(table, 1, DecodePosition, qwen3: false).Run(output));
        rows.AddRange(KvAppend(table, PrefillTokens, 0, qwen3: true).Run(output));
        rows.AddRange(KvAppend(table, 1, DecodePosition, qwen3: true).Run(output));
        rows.AddRange(TableBuilding.Run(output));
        return rows;
    }

    private static Comparison Single(RopeTable table, int tokens, int start, string title, bool allPaths)
    {
        var shape = new RopeShape(tokens, Heads, HeadDim);
        int elements = shape.RequiredLength;
        float[] input = RandomActivations(elements, seed: 1);
        var expected = Expected(input, tokens, start, table);
        var buffer = new AlignedBuffer(elements);
        var shifted = new AlignedBuffer(elements, misalignElements: 1);
        input.CopyTo(buffer.Span);
        input.CopyTo(shifted.Span);
        var comparison = Comparison.OverBuffer(title, elements, buffer, BandwidthLimit.Operation.MultiplyAdd);

        string Check(AlignedBuffer target, Action rotate, RopeLayout layout)
        {
            input.CopyTo(target.Span);
            rotate();
            return Errors.Single(input, target.Span, expected[layout], HeadDim, layout);
        }

        foreach (RopeEngine engine in allPaths ? RopeEngine.Supported : [RopeEngine.Default])
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                void Rotate() => engine.Apply(table, buffer.Span, shape, start, layout);
                comparison.Add(new($"Rope.Simd {engine.Path} {layout}", Rotate, () => Check(buffer, Rotate, layout)));
            }
        }

        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void Rotate() => RopeEngine.Default.Apply(table, shifted.Span, shape, start, layout);
            comparison.Add(new($"Rope.Simd {RopeEngine.Default.Path} {layout}, buffer 4 bytes off a cache line", Rotate, () => Check(shifted, Rotate, layout)));
        }

        string Baseline(RopeLayout layout) => $"Rope.Simd {RopeEngine.Default.Path} {layout}";
        AddFloatPeers(comparison, table, tokens, start, input, expected, buffer, Baseline, threads: 1);

        var loops = new ReferenceLoops(table);
        void PerHead() => loops.VectorHalfSplit(buffer.Span, tokens, start, Heads, HeadDim);
        comparison.Add(new($"per-head Vector<float> loop over [position][rotary/2] cos and sin caches, as C# engines write it (HalfSplit)", PerHead,
            () => Check(buffer, PerHead, RopeLayout.HalfSplit), Baseline(RopeLayout.HalfSplit)));
        void Composed() => loops.TensorPrimitivesHalfSplit(buffer.Span, tokens, start, Heads, HeadDim);
        comparison.Add(new("TensorPrimitives composition (HalfSplit)", Composed, () => Check(buffer, Composed, RopeLayout.HalfSplit), Baseline(RopeLayout.HalfSplit)));
        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void Naive() => ReferenceLoops.Scalar(table, buffer.Span, tokens, start, Heads, HeadDim, layout);
            comparison.Add(new($"naive scalar loop ({layout})", Naive, () => Check(buffer, Naive, layout), Baseline(layout)));
        }

        return comparison;
    }

    /// <summary>
    /// The keys of a 4096-token prompt with 8 key heads of 128 (16 MiB, beyond L2 and most of L3 on small machines),
    /// rotated in place by the default path in both layouts.
    /// </summary>
    private static Comparison LongPromptKeys(RopeTable table)
    {
        const int tokens = 4096, keyHeads = 8;
        var shape = new RopeShape(tokens, keyHeads, HeadDim);
        int elements = shape.RequiredLength;
        float[] input = RandomActivations(elements, seed: 7);
        var expected = Expected(input, tokens, 0, table, keyHeads);
        var buffer = new AlignedBuffer(elements);
        input.CopyTo(buffer.Span);
        var comparison = Comparison.OverBuffer($"float32 keys of a long prompt {tokens} x {keyHeads} x {HeadDim} (16 MiB)", elements, buffer,
            BandwidthLimit.Operation.MultiplyAdd);
        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void Rotate() => RopeEngine.Default.Apply(table, buffer.Span, shape, 0, layout);
            comparison.Add(new($"Rope.Simd {RopeEngine.Default.Path} {layout}", Rotate, () =>
            {
                input.CopyTo(buffer.Span);
                Rotate();
                return Errors.Single(input, buffer.Span, expected[layout], HeadDim, layout);
            }));
        }

        return comparison;
    }

    /// <summary>
    /// ggml (modes 0 and 2, in place in its own tensor) and both ONNX Runtime RotaryEmbedding kernels (reading
    /// <paramref name="buffer"/>, writing a buffer of their own) on float32, on <paramref name="threads"/> threads, each
    /// against the Rope.Simd case <paramref name="baseline"/> names for its layout.
    /// </summary>
    private static void AddFloatPeers(Comparison comparison, RopeTable table, int tokens, int start, float[] input,
        Dictionary<RopeLayout, double[]> expected, AlignedBuffer buffer, Func<RopeLayout, string> baseline, int threads)
    {
        string onThreads = threads == 1 ? "" : $", {threads} threads";
        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            if (Ggml.TryCreate(tokens, start, Heads, HeadDim, Ggml.TypeF32, layout, Base, threads) is Ggml ggml)
            {
                comparison.Add(new($"ggml rope_ext_inplace mode {(layout == RopeLayout.Interleaved ? 0 : 2)} ({layout}){onThreads}", ggml.Rotate, () =>
                {
                    input.CopyTo(ggml.Values<float>());
                    ggml.Rotate();
                    return Errors.Single(input, ggml.Values<float>(), expected[layout], HeadDim, layout);
                }, baseline(layout)));
            }
        }

        var output = new AlignedBuffer(buffer.Length);
        foreach (bool contrib in (ReadOnlySpan<bool>)[false, true])
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                if (OnnxRuntime.TryCreate(contrib, float16: false, table, tokens, start, Heads, HeadDim, layout, buffer.Address, output.Address, threads) is OnnxRuntime onnx)
                {
                    comparison.Add(new($"ONNX Runtime {OnnxName(contrib)} ({layout}), out of place{onThreads}", onnx.Rotate, () =>
                    {
                        input.CopyTo(buffer.Span);
                        onnx.Rotate();
                        return Errors.Single(input, output.Span, expected[layout], HeadDim, layout);
                    }, baseline(layout)));
                }
            }
        }
    }

    private static Comparison Packed(RopeTable table, bool bfloat16)
    {
        string type = bfloat16 ? "bfloat16" : "float16";
        var shape = new RopeShape(PrefillTokens, Heads, HeadDim);
        int elements = shape.RequiredLength;
        float[] source = RandomActivations(elements, seed: 2);
        var input = new ushort[elements];
        var widened = new float[elements];
        Narrow(RopeEngine.Default, bfloat16, source, input);
        Widen(RopeEngine.Default, bfloat16, input, widened);
        var expected = Expected(widened, PrefillTokens, 0, table);

        // A float buffer of half the length holds the 16-bit elements; the limit streams the same bytes, flipping bits that
        // keep every 16-bit value a normal number, so the rotations that share the buffer never meet subnormals or NaN.
        var buffer = new AlignedBuffer(elements / 2);
        var shifted = new AlignedBuffer(elements / 2, misalignElements: 1);
        input.CopyTo(Bits(buffer));
        input.CopyTo(Bits(shifted));
        string title = $"{type} prefill {PrefillTokens} x {Heads} x {HeadDim}" + (bfloat16 ? " (no peer rotates bfloat16 on the CPU)" : "");
        var comparison = Comparison.OverBuffer(title, elements, buffer, BandwidthLimit.Operation.FlipBits);

        string Check(Span<ushort> values, Action rotate, RopeLayout layout)
        {
            input.CopyTo(values);
            rotate();
            var result = new float[elements];
            Widen(RopeEngine.Default, bfloat16, values, result);
            return Errors.Packed(widened, result, expected[layout], HeadDim, layout, bfloat16);
        }

        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                void Rotate() => Apply(engine, bfloat16, table, Bits(buffer), shape, layout);
                comparison.Add(new($"Rope.Simd {engine.Path} {layout}", Rotate, () => Check(Bits(buffer), Rotate, layout)));
            }
        }

        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void Rotate() => Apply(RopeEngine.Default, bfloat16, table, Bits(shifted), shape, layout);
            comparison.Add(new($"Rope.Simd {RopeEngine.Default.Path} {layout}, buffer 4 bytes off a cache line", Rotate, () => Check(Bits(shifted), Rotate, layout)));
        }

        // ggml aborts the process on bfloat16 and ONNX Runtime has no bfloat16 RotaryEmbedding kernel: float16 only.
        foreach (RopeLayout layout in bfloat16 ? [] : Enum.GetValues<RopeLayout>())
        {
            string baseline = $"Rope.Simd {RopeEngine.Default.Path} {layout}";
            if (Ggml.TryCreate(PrefillTokens, 0, Heads, HeadDim, Ggml.TypeF16, layout, Base, threads: 1) is Ggml ggml)
            {
                comparison.Add(new($"ggml rope_ext_inplace mode {(layout == RopeLayout.Interleaved ? 0 : 2)} ({layout})", ggml.Rotate,
                    () => Check(ggml.Values<ushort>(), ggml.Rotate, layout), baseline));
            }

            var output = new AlignedBuffer(elements / 2);
            foreach (bool contrib in (ReadOnlySpan<bool>)[false, true])
            {
                if (OnnxRuntime.TryCreate(contrib, float16: true, table, PrefillTokens, 0, Heads, HeadDim, layout, buffer.Address, output.Address) is OnnxRuntime onnx)
                {
                    comparison.Add(new($"ONNX Runtime {OnnxName(contrib)} ({layout}), out of place", onnx.Rotate, () =>
                    {
                        input.CopyTo(Bits(buffer));
                        onnx.Rotate();
                        var result = new float[elements];
                        Widen(RopeEngine.Default, bfloat16: false, Bits(output), result);
                        return Errors.Packed(widened, result, expected[layout], HeadDim, layout, bfloat16: false);
                    }, baseline));
                }
            }
        }

        return comparison;
    }

    private static string OnnxName(bool contrib) => contrib ? "com.microsoft RotaryEmbedding" : "RotaryEmbedding-23";

    private static Span<ushort> Bits(AlignedBuffer buffer) => MemoryMarshal.Cast<float, ushort>(buffer.Span);

    private static Dictionary<RopeLayout, double[]> Expected(float[] input, int tokens, int start, RopeTable table, int heads = Heads) =>
        Enum.GetValues<RopeLayout>().ToDictionary(layout => layout, layout =>
        {
            var expected = new double[input.Length];
            RopeReference.Rotate(input, expected, heads, HeadDim, [.. Enumerable.Range(start, tokens)], table.Frequencies.InverseFrequencies, layout);
            return expected;
        });

    private static void Apply(RopeEngine engine, bool bfloat16, RopeTable table, Span<ushort> values, RopeShape shape, RopeLayout layout)
    {
        if (bfloat16)
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, BFloat16>(values), shape, 0, layout);
        }
        else
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, Half>(values), shape, 0, layout);
        }
    }

    private static void Narrow(RopeEngine engine, bool bfloat16, ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (bfloat16)
        {
            engine.ConvertToBFloat16(source, MemoryMarshal.Cast<ushort, BFloat16>(destination));
        }
        else
        {
            engine.ConvertToHalf(source, MemoryMarshal.Cast<ushort, Half>(destination));
        }
    }

    private static void Widen(RopeEngine engine, bool bfloat16, ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (bfloat16)
        {
            engine.ConvertToSingle(MemoryMarshal.Cast<ushort, BFloat16>(source), destination);
        }
        else
        {
            engine.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
        }
    }

    private static float[] RandomActivations(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(random.NextDouble() * 8 - 4);
        }

        return values;
    }
}
