using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>The README's code samples, verbatim, so they keep compiling and running.</summary>
public class ReadmeSampleTests
{
    [Fact]
    public void QuickStartRuns()
    {
        // LLaMA-3-8B: 32 query heads and 8 key heads of 128, base 500000, half-split pairs (Hugging Face weights).
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 8192, @base: 500000);
        var queryShape = new RopeShape(tokens: 512, heads: 32, headDim: 128);   // [tokens][heads][headDim]
        var keyShape = new RopeShape(tokens: 512, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength];
        float[] keys = new float[keyShape.RequiredLength];

        // Prefill: tokens at positions 0..511, queries and keys in one pass, in place.
        RopeEngine.Default.Apply(table, queries, queryShape, keys, keyShape, positions: 0, RopeLayout.HalfSplit);

        // Decode: one token at position 512.
        var oneQuery = new RopeShape(tokens: 1, heads: 32, headDim: 128);
        var oneKey = new RopeShape(tokens: 1, heads: 8, headDim: 128);
        RopeEngine.Default.Apply(table, queries.AsSpan(0, 4096), oneQuery, keys.AsSpan(0, 1024), oneKey, positions: 512, RopeLayout.HalfSplit);

        // Context shift: move cached keys back by 100 positions (rotate by -100·ω).
        int[] delta = [.. Enumerable.Repeat(100, 512)];
        RopeEngine.Default.Apply(table, keys, keyShape, positions: delta, RopeLayout.HalfSplit, inverse: true);

        Assert.All(queries, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void SixteenBitSampleRuns()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 8192, @base: 500000);   // float32 whatever the activations
        var shape = new RopeShape(tokens: 16, heads: 32, headDim: 128);

        // bfloat16 kept as raw ushort (as read from a checkpoint): reinterpret in place, no copy.
        ushort[] raw = new ushort[shape.RequiredLength];
        Span<BFloat16> queries = MemoryMarshal.Cast<ushort, BFloat16>(raw.AsSpan());
        RopeEngine.Default.Apply(table, queries, shape, positions: 100, RopeLayout.HalfSplit);

        // float16 is System.Half; every float32 overload exists for both types (GQA, out of place, strides, inverse).
        Half[] halfKeys = new Half[shape.RequiredLength];
        RopeEngine.Default.Apply(table, halfKeys, shape, positions: 100, RopeLayout.HalfSplit);

        // Span conversions, vectorized on every path: the same bits as the scalar casts.
        float[] widened = new float[shape.RequiredLength];
        RopeEngine.Default.ConvertToSingle(queries, widened);
        RopeEngine.Default.ConvertToBFloat16(widened, queries);
        RopeEngine.Default.ConvertToHalf(widened, halfKeys);

        Assert.All(widened, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void ScalingSampleRuns()
    {
        // LLaMA 3.1: llama3 scaling, factor 8, original context 8192.
        var llama31 = RopeTable.Create(RopeScaling.Llama3(128, 500000, factor: 8, originalMaxPositionEmbeddings: 8192), 0, 131072);

        // Qwen2.5 with YaRN factor 4 over 32768 (A = 0.1·ln 4 + 1, applied to the table).
        var qwen = RopeTable.Create(RopeScaling.Yarn(128, 1000000, factor: 4, originalMaxPositionEmbeddings: 32768), 0, 131072);

        // DeepSeek-V2: YaRN with mscale = mscale_all_dim, so A = 1; the softmax scale takes mscale² instead.
        var deepSeek = RopeScaling.Yarn(64, 10000, 40, 4096, mscale: 0.707, mscaleAllDim: 0.707);
        double softmaxScale = RopeScaling.DeepSeekSoftmaxScale(40, 0.707) / Math.Sqrt(192);

        Assert.Equal(131072, llama31.PositionCount);
        Assert.Equal(1 + 0.1 * Math.Log(4), qwen.Frequencies.AttentionFactor, 15);
        Assert.Equal(1.0, deepSeek.AttentionFactor);
        Assert.Equal(1.5896261651208736 / Math.Sqrt(192), softmaxScale, 15);
    }

    [Fact]
    public void ConfigSampleRuns()
    {
        string json = """
            { "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 131072, "rope_theta": 500000.0,
              "rope_scaling": { "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192 } }
            """;
        RopeConfiguration config = HuggingFaceConfig.Parse(json);   // head dim 128, llama3 scaling
        var table = RopeTable.Create(config.Frequencies, 0, 8192);

        Assert.Equal((128, "llama3"), (config.HeadDim, config.ScalingType));
        Assert.Equal(8192, table.PositionCount);
    }

    [Fact]
    public void ParallelSampleRuns()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 8192, @base: 500000);
        var queryShape = new RopeShape(tokens: 512, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 512, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];

        // At most 2 threads per call, the calling thread included; keep the engine and reuse it.
        RopeEngine parallel = RopeEngine.Default.WithParallelism(maxDegreeOfParallelism: 2);
        parallel.Apply(table, queries, queryShape, keys, keyShape, positions: 0, RopeLayout.HalfSplit);

        Assert.Equal(2, parallel.MaxDegreeOfParallelism);
    }

    [Fact]
    public void RowsComputedPerCallSampleRuns()
    {
        RopeFrequencies frequencies = RopeFrequencies.Create(rotaryDim: 128, @base: 500000);   // or any RopeScaling schedule
        var queryShape = new RopeShape(tokens: 1, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 1, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];

        // Any position in [0, 2^31): the row is computed for this call, once, for all 40 heads.
        RopeEngine.Default.Apply(frequencies, queries, queryShape, keys, keyShape, positions: 1_000_000, RopeLayout.HalfSplit);

        Assert.All(keys, value => Assert.Equal(0f, value));
    }
}
