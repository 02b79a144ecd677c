using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>The README's quick start, verbatim, so it keeps compiling and running.</summary>
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
}
