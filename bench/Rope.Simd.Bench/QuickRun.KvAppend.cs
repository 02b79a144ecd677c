using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Rope.Simd.Bench.Peers;

namespace Rope.Simd.Bench;

// The step from the QKV projection to attention's inputs: rotation fused with the KV-cache append, and with QK norm
// from a packed projection output.
internal static partial class QuickRun
{
    private const int CacheCapacity = 1024;

    /// <summary>
    /// Queries (32 heads) and keys and values (8 heads) of 128, half-split, into a position-major cache at the tokens'
    /// positions: Rope.Simd's one call against the same work with its own separate calls (rotation, then the
    /// conversions into the cache) and against ggml's graph for it (rope_ext, then cpy into float16 cache views). With
    /// <paramref name="qwen3"/>, the inputs are one packed QKV buffer and queries and keys are RMS-normalized per head
    /// first (Qwen3-8B's shape); the separate calls then start with a TensorPrimitives norm pass. The limit streams the
    /// fused pass's bytes: queries read and written, keys and values read, the cache written.
    /// </summary>
    private static Comparison KvAppend(RopeTable table, int tokens, int start, bool qwen3)
    {
        const RopeLayout layout = RopeLayout.HalfSplit;
        var packing = new RopePackedQkv(tokens, Heads, KeyHeads, HeadDim);
        int queryElements = tokens * Heads * HeadDim, keyElements = tokens * KeyHeads * HeadDim, elements = packing.RequiredLength;
        // Inputs as the projection leaves them: one packed buffer (Qwen3) or queries, keys and values one after another.
        float[] input = RandomActivations(elements, seed: 9);
        var random = new Random(9);
        float[] queryWeights = [.. Enumerable.Range(0, HeadDim).Select(_ => 0.5f + random.NextSingle())];
        float[] keyWeights = [.. Enumerable.Range(0, HeadDim).Select(_ => 0.5f + random.NextSingle())];
        (float[] queryInput, float[] keyInput, float[] valueInput) = Parts(input, tokens, qwen3);
        (float[] reference, double[] expected) = qwen3
            ? NormalizedAndRotated([.. queryInput, .. keyInput], queryElements, queryWeights, keyWeights, tokens, start, table, layout)
            : ([.. queryInput, .. keyInput], [.. Expected(queryInput, tokens, start, table)[layout], .. Expected(keyInput, tokens, start, table, KeyHeads)[layout]]);

        var buffer = new AlignedBuffer(elements);
        var keyCache = new AlignedBuffer(CacheCapacity * KeyHeads * HeadDim / 2);
        var valueCache = new AlignedBuffer(CacheCapacity * KeyHeads * HeadDim / 2);
        var limitQueries = new AlignedBuffer(queryElements);
        var limitRead = new AlignedBuffer(2 * keyElements);
        var limitWritten = new AlignedBuffer(keyElements);
        string shape = $"{tokens} x ({Heads} + {KeyHeads} + {KeyHeads}) x {HeadDim}";
        string title = (qwen3 ? "QK norm + RoPE + KV append from packed QKV (Qwen3-8B)" : "RoPE + KV append (LLaMA-3-8B)")
            + (tokens == 1 ? $", float32 decode {shape} at position {start}" : $", float32 prefill {shape}");
        var comparison = new Comparison(title, elements,
            BandwidthLimit.FusedPassVariants(limitQueries, limitRead, limitWritten, BandwidthLimit.Operation.MultiplyAdd));

        Span<float> Buffer() => buffer.Span;
        RopeShape QueryShape() => qwen3 ? packing.QueryShape : new RopeShape(tokens, Heads, HeadDim);
        RopeShape KeyShape() => qwen3 ? packing.KeyShape : new RopeShape(tokens, KeyHeads, HeadDim);
        int KeyOffset() => qwen3 ? packing.KeyOffset : queryElements;
        int ValueOffset() => qwen3 ? packing.ValueOffset : queryElements + keyElements;
        RopeHeadNorm Norm(float[] weights) => qwen3 ? RopeHeadNorm.Rms(weights, NormEpsilon) : RopeHeadNorm.None;
        Span<T> Cache<T>(AlignedBuffer cache)
            where T : struct => MemoryMarshal.Cast<float, T>(cache.Span);
        int cacheStart = start * KeyHeads * HeadDim;

        string Check(Action run, bool bfloat16, Func<float[]> queries, Func<ushort[]> keySlots)
        {
            input.CopyTo(Buffer());
            run();
            float[] keys = [.. keySlots().Select(bits => bfloat16 ? BitConverter.UInt32BitsToSingle((uint)bits << 16) : (float)BitConverter.UInt16BitsToHalf(bits))];
            return $"q {Errors.Single(reference[..queryElements], queries(), expected[..queryElements], HeadDim, layout)}; cached k "
                + Errors.Packed(reference[queryElements..], keys, expected[queryElements..], HeadDim, layout, bfloat16);
        }

        float[] RotatedQueries() => qwen3 ? Gather(Buffer(), tokens, packing.RowLength, 0, Heads * HeadDim) : Buffer()[..queryElements].ToArray();
        ushort[] KeySlots(AlignedBuffer cache) => Cache<ushort>(cache).Slice(cacheStart, keyElements).ToArray();

        RopeEngine engine = RopeEngine.Default;
        foreach (bool bfloat16 in new[] { false, true })
        {
            string type = bfloat16 ? "bfloat16" : "float16";
            string fused = $"Rope.Simd {engine.Path} ApplyAndAppend{(qwen3 ? " from packed QKV" : "")}, one pass, {type} cache";
            void Fused()
            {
                if (qwen3)
                {
                    AppendPacked(engine, bfloat16, table, Buffer(), packing, queryWeights, keyWeights, keyCache, valueCache, start, layout);
                }
                else
                {
                    AppendSeparate(engine, bfloat16, table, Buffer(), queryElements, keyElements, keyCache, valueCache, start, layout);
                }
            }

            comparison.Add(new(fused, Fused, () => Check(Fused, bfloat16, RotatedQueries, () => KeySlots(keyCache))));

            // The library's own best composition first (what the fused append saves on its own): with norms, its QK-norm
            // call then the conversions; without, Apply then the conversions (the separate calls below).
            if (qwen3)
            {
                void NormThenConvert()
                {
                    engine.ApplyWithNorm(table, Buffer(), packing, Norm(queryWeights), Norm(keyWeights), start, layout);
                    ConvertRows(engine, bfloat16, Buffer(), tokens, packing.RowLength, packing.KeyOffset, Cache<ushort>(keyCache)[cacheStart..]);
                    ConvertRows(engine, bfloat16, Buffer(), tokens, packing.RowLength, packing.ValueOffset, Cache<ushort>(valueCache)[cacheStart..]);
                }

                comparison.Add(new($"two calls: Rope.Simd ApplyWithNorm on the packed QKV, then Convert k and v into the {type} cache", NormThenConvert,
                    () => Check(NormThenConvert, bfloat16, RotatedQueries, () => KeySlots(keyCache)), fused));
            }

            // The same work by separate calls: (a norm pass,) rotation, then each token's keys and values converted into the cache.
            void Separate()
            {
                if (qwen3)
                {
                    NormalizeStridedHeads(Buffer(), tokens, packing.RowLength, 0, Heads, queryWeights);
                    NormalizeStridedHeads(Buffer(), tokens, packing.RowLength, packing.KeyOffset, KeyHeads, keyWeights);
                }

                engine.Apply(table, Buffer(), QueryShape(), Buffer()[KeyOffset()..], KeyShape(), start, layout);
                ConvertRows(engine, bfloat16, Buffer(), tokens, qwen3 ? packing.RowLength : KeyHeads * HeadDim, KeyOffset(), Cache<ushort>(keyCache)[cacheStart..]);
                ConvertRows(engine, bfloat16, Buffer(), tokens, qwen3 ? packing.RowLength : KeyHeads * HeadDim, ValueOffset(), Cache<ushort>(valueCache)[cacheStart..]);
            }

            string separate = qwen3
                ? $"separate calls: TensorPrimitives RMS norm per head, Apply, Convert k and v into the {type} cache"
                : $"separate calls: Apply, Convert k and v into the {type} cache";
            comparison.Add(new(separate, Separate, () => Check(Separate, bfloat16, RotatedQueries, () => KeySlots(keyCache)), fused));
        }

        if (Ggml.PreAttention.TryCreate(tokens, start, Heads, KeyHeads, HeadDim, layout, Base, packed: qwen3, Ggml.TypeF16, CacheCapacity,
                qwen3 ? queryWeights : default, qwen3 ? keyWeights : default, NormEpsilon) is { } graph)
        {
            string fused = $"Rope.Simd {engine.Path} ApplyAndAppend{(qwen3 ? " from packed QKV" : "")}, one pass, float16 cache";
            string name = qwen3
                ? "ggml rms_norm + mul + rope_ext on views of the packed QKV, cpy k and v into float16 cache views, one graph"
                : "ggml rope_ext q and k, cpy k and v into float16 cache views, one graph";
            comparison.Add(new(name, graph.Run, () =>
            {
                input.CopyTo(graph.Input);
                graph.Run();
                float[] keys = [.. graph.KeySlots.ToArray().Select(bits => (float)BitConverter.UInt16BitsToHalf(bits))];
                return $"q {Errors.Single(reference[..queryElements], graph.Queries, expected[..queryElements], HeadDim, layout)}; cached k "
                    + Errors.Packed(reference[queryElements..], keys, expected[queryElements..], HeadDim, layout, bfloat16: false);
            }, fused));
        }

        return comparison;
    }

    private static void AppendSeparate(RopeEngine engine, bool bfloat16, RopeTable table, Span<float> buffer, int queryElements, int keyElements,
        AlignedBuffer keyCache, AlignedBuffer valueCache, int start, RopeLayout layout)
    {
        int tokens = queryElements / (Heads * HeadDim);
        var queryShape = new RopeShape(tokens, Heads, HeadDim);
        var keyShape = new RopeShape(tokens, KeyHeads, HeadDim);
        ReadOnlySpan<float> keys = buffer.Slice(queryElements, keyElements), values = buffer.Slice(queryElements + keyElements, keyElements);
        if (bfloat16)
        {
            var cache = RopeKvCache<BFloat16>.PositionMajor(MemoryMarshal.Cast<float, BFloat16>(keyCache.Span), MemoryMarshal.Cast<float, BFloat16>(valueCache.Span),
                1, CacheCapacity, KeyHeads, HeadDim);
            engine.ApplyAndAppend(table, buffer[..queryElements], queryShape, keys, values, keyShape, cache, start, layout);
        }
        else
        {
            var cache = RopeKvCache<Half>.PositionMajor(MemoryMarshal.Cast<float, Half>(keyCache.Span), MemoryMarshal.Cast<float, Half>(valueCache.Span),
                1, CacheCapacity, KeyHeads, HeadDim);
            engine.ApplyAndAppend(table, buffer[..queryElements], queryShape, keys, values, keyShape, cache, start, layout);
        }
    }

    private static void AppendPacked(RopeEngine engine, bool bfloat16, RopeTable table, Span<float> buffer, RopePackedQkv packing, float[] queryWeights,
        float[] keyWeights, AlignedBuffer keyCache, AlignedBuffer valueCache, int start, RopeLayout layout)
    {
        if (bfloat16)
        {
            var cache = RopeKvCache<BFloat16>.PositionMajor(MemoryMarshal.Cast<float, BFloat16>(keyCache.Span), MemoryMarshal.Cast<float, BFloat16>(valueCache.Span),
                1, CacheCapacity, KeyHeads, HeadDim);
            engine.ApplyAndAppend(table, buffer, packing, RopeHeadNorm.Rms(queryWeights, NormEpsilon), RopeHeadNorm.Rms(keyWeights, NormEpsilon), cache, start,
                layout);
        }
        else
        {
            var cache = RopeKvCache<Half>.PositionMajor(MemoryMarshal.Cast<float, Half>(keyCache.Span), MemoryMarshal.Cast<float, Half>(valueCache.Span),
                1, CacheCapacity, KeyHeads, HeadDim);
            engine.ApplyAndAppend(table, buffer, packing, RopeHeadNorm.Rms(queryWeights, NormEpsilon), RopeHeadNorm.Rms(keyWeights, NormEpsilon), cache, start,
                layout);
        }
    }

    /// <summary>Each token's run of KeyHeads·HeadDim elements at <paramref name="offset"/> of its row, converted into consecutive cache slots.</summary>
    private static void ConvertRows(RopeEngine engine, bool bfloat16, ReadOnlySpan<float> buffer, int tokens, int rowLength, int offset, Span<ushort> slots)
    {
        int run = KeyHeads * HeadDim;
        if (rowLength == run)
        {
            Narrow(engine, bfloat16, buffer.Slice(offset, tokens * run), slots[..(tokens * run)]);
            return;
        }

        for (int token = 0; token < tokens; token++)
        {
            Narrow(engine, bfloat16, buffer.Slice(token * rowLength + offset, run), slots.Slice(token * run, run));
        }
    }

    /// <summary>What a runtime without a fused call does to a packed buffer: each head's RMS norm by TensorPrimitives, in place.</summary>
    private static void NormalizeStridedHeads(Span<float> buffer, int tokens, int rowLength, int offset, int heads, float[] weights)
    {
        for (int token = 0; token < tokens; token++)
        {
            NormalizeHeads(buffer.Slice(token * rowLength + offset, heads * HeadDim), weights);
        }
    }

    /// <summary>The queries, keys and values of <paramref name="input"/> (packed rows, or the three one after another).</summary>
    private static (float[] Queries, float[] Keys, float[] Values) Parts(float[] input, int tokens, bool packed)
    {
        int queryRun = Heads * HeadDim, keyRun = KeyHeads * HeadDim, row = queryRun + 2 * keyRun;
        if (!packed)
        {
            return (input[..(tokens * queryRun)], input[(tokens * queryRun)..(tokens * (queryRun + keyRun))], input[(tokens * (queryRun + keyRun))..]);
        }

        return (Gather(input, tokens, row, 0, queryRun), Gather(input, tokens, row, queryRun, keyRun), Gather(input, tokens, row, queryRun + keyRun, keyRun));
    }

    private static float[] Gather(ReadOnlySpan<float> rows, int tokens, int rowLength, int offset, int run)
    {
        var result = new float[tokens * run];
        for (int token = 0; token < tokens; token++)
        {
            rows.Slice(token * rowLength + offset, run).CopyTo(result.AsSpan(token * run));
        }

        return result;
    }
}
