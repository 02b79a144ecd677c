using System.Runtime.InteropServices;
using Rope.Simd;
using static Rope.Simd.Tests.Matrix.CombinationMatrixTests;

namespace Rope.Simd.Tests.Matrix;

/// <summary>
/// One combination with its random data: runs the call on every path (and, where the docs promise a table's bits, with
/// the table's rows too), checks every element against <see cref="Float64Rope"/> and the bits the docs promise.
/// </summary>
internal sealed class MatrixCase<T, TCache>
    where T : unmanaged
    where TCache : unmanaged
{
    // Rows cover 48 positions; a cache holds 16 (its work grows with its size, and 16 takes every case's tokens).
    private const int Positions = 48, CachePositions = 16, BlockSize = 4;
    private const float Epsilon = 1e-5f;

    private readonly Combination combination;
    private readonly MatrixOperation operation;
    private readonly RowSet rows;
    private readonly int rotaryDim, headDim, batch, tokens, capacity;
    private readonly RopeShape queryShape, keyShape;
    private readonly RopePackedQkv packing;
    private readonly T[] queries, keys, values, qkv, destinationCanary;
    private readonly int[] temporal, height, width, starts;
    private readonly MropeSections? sections;
    private readonly NormKind queryNorm, keyNorm;
    private readonly float[] queryWeights, keyWeights;
    private readonly int[] blockTable;
    private readonly int cacheLength;

    public MatrixCase(Combination combination, Random random)
    {
        this.combination = combination;
        operation = combination.Operation;
        MatrixVariant variant = combination.Variant;
        rotaryDim = combination.RotaryDim;
        headDim = combination.HeadDim;
        rows = RowsFor(rotaryDim, combination.Rows, variant.RowPadding);
        batch = variant.Batch;
        tokens = random.Next(1, 4);
        int queryHeads = operation.IsAppend ? random.Next(0, 4) : random.Next(1, 4), kvHeads = random.Next(1, 3);
        if (operation.IsPacked)
        {
            packing = new RopePackedQkv(batch, tokens, Math.Max(queryHeads, 1), kvHeads, headDim);
            queryShape = packing.QueryShape;
            keyShape = packing.KeyShape;
            qkv = Activations(random, packing.RequiredLength);
        }
        else
        {
            queryShape = Shape(variant.TensorLayout, queryHeads);
            keyShape = Shape(variant.TensorLayout, kvHeads);
        }

        queries = Activations(random, queryShape.RequiredLength);
        keys = Activations(random, keyShape.RequiredLength);
        values = Activations(random, keyShape.RequiredLength);
        destinationCanary = Activations(random, Math.Max(queryShape.RequiredLength, keyShape.RequiredLength));
        qkv ??= [];

        // Positions: distinct within a sequence for the append (a place written twice keeps its last token's heads).
        capacity = operation.IsAppend ? CachePositions : Positions;
        int total = batch * tokens;
        temporal = new int[total];
        height = new int[total];
        width = new int[total];
        starts = new int[batch];
        for (int sequence = 0; sequence < batch; sequence++)
        {
            starts[sequence] = random.Next(0, capacity - tokens + 1);
            int[] distinct = [.. Enumerable.Range(0, capacity).OrderBy(_ => random.Next()).Take(tokens)];
            for (int token = 0; token < tokens; token++)
            {
                int index = sequence * tokens + token;
                temporal[index] = combination.Positions switch
                {
                    PositionSource.Start => starts[0] + token,
                    PositionSource.SequenceStarts => starts[sequence] + token,
                    PositionSource.Multimodal => random.Next(Positions),
                    _ => distinct[token],
                };
                height[index] = random.Next(Positions);
                width[index] = random.Next(Positions);
            }
        }

        int pairs = rotaryDim / 2;
        if (combination.Positions == PositionSource.Multimodal)
        {
            sections = MropeSections.Contiguous(pairs - (2 * (pairs / 4)), pairs / 4, pairs / 4);
        }

        (queryNorm, keyNorm) = operation.Kind switch
        {
            Operation.NormWeight => (NormKind.Weight, NormKind.None),
            Operation.NormOnePlusWeight => (NormKind.OnePlusWeight, NormKind.None),
            Operation.NormUnweighted => (NormKind.Unweighted, NormKind.None),
            Operation.NormQueriesKeys or Operation.NormPacked or Operation.Append or Operation.AppendPacked =>
                ((NormKind)random.Next(4), (NormKind)random.Next(4)),
            _ => (NormKind.None, NormKind.None),
        };
        queryWeights = Weights(random, queryNorm);
        keyWeights = Weights(random, keyNorm);

        // Paged: three blocks more than the batch needs, the table a shuffle of them.
        int blocksPerSequence = capacity / BlockSize, blocks = (batch * blocksPerSequence) + 3;
        blockTable = [.. Enumerable.Range(0, blocks).OrderBy(_ => random.Next()).Take(batch * blocksPerSequence)];
        cacheLength = !operation.IsAppend ? 0
            : operation.CacheLayout == CacheLayout.Paged ? blocks * BlockSize * kvHeads * headDim : batch * capacity * kvHeads * headDim;
    }

    /// <summary>
    /// Runs the combination on every path and checks it; where a table's rows must give the same bits, that is checked
    /// on one path, drawn per combination (so every path gets it over the run).
    /// </summary>
    public void Run(Random random)
    {
        byte[][]? firstPath = null;
        RopePath twinPath = RopeEngine.Supported[random.Next(RopeEngine.Supported.Count)].Path;
        foreach (RopeEngine pathEngine in RopeEngine.Supported)
        {
            RopeEngine engine = combination.Variant.Parallel ? pathEngine.WithParallelism(2, minElementsPerThread: 1) : pathEngine;
            if (operation.IsAppend && combination.Positions == PositionSource.Multimodal)
            {
                // Multimodal positions give no single cache place: refused, naming them, before anything is written.
                Outputs refused = Outputs.For(this);
                var error = Assert.ThrowsAny<ArgumentException>(() => Call(engine, rows, refused));
                Assert.Equal("positions", error.ParamName);
                refused.AssertUnchanged(this);
                continue;
            }

            Outputs outputs = Outputs.For(this);
            Call(engine, rows, outputs);

            // 16-bit results: the same bits on every path; where every result is 16-bit, those of the first path checked
            // against the oracle stand for all.
            byte[][] sixteenBit = outputs.SixteenBit();
            if (firstPath is null || !AllSixteenBit)
            {
                Check(outputs, $"{engine}");
            }

            firstPath ??= sixteenBit;
            for (int i = 0; i < sixteenBit.Length; i++)
            {
                Assert.True(firstPath[i].AsSpan().SequenceEqual(sixteenBit[i]), $"{engine}: 16-bit result {i} differs from {RopeEngine.Supported[0]}'s bits");
            }

            if (rows.HasTableTwin && pathEngine.Path == twinPath)
            {
                Outputs twin = Outputs.For(this);
                Call(engine, RowsFor(rotaryDim, RowSource.Table, 0), twin);
                Assert.True(outputs.SameBits(twin), $"{engine}: {combination.Rows} rows gave other bits than the table's rows");
            }

            if (operation.IsAppend && pathEngine.Path == twinPath && (typeof(T) == typeof(float) || typeof(T) == typeof(TCache)))
            {
                AssertSeparateCallsBits(engine, outputs);
            }
        }
    }

    /// <summary>
    /// The append against the separate calls on the same path: queries with ApplyWithNorm's bits, keys (float32, or
    /// of the cache's own type) with ApplyWithNorm's bits followed by the span conversion, at every place.
    /// </summary>
    private void AssertSeparateCallsBits(RopeEngine engine, Outputs outputs)
    {
        bool packed = operation.Kind == Operation.AppendPacked;
        RopeRows source = rows.Make();
        RopeLayout layout = combination.Layout;
        T[] separateQueries = packed ? [.. qkv] : [.. queries];
        if (queryShape.Heads > 0)
        {
            engine.ApplyWithNorm(source, separateQueries.AsSpan(), queryShape, Norm(queryNorm, queryWeights, headDim), MakePositions(), layout);
        }

        AssertSameBits(separateQueries, packed ? outputs.Qkv : outputs.Queries, $"{engine}: the append's queries are not ApplyWithNorm's bits");
        T[] separateKeys = packed ? [.. qkv] : [.. keys];
        int offset = packed ? packing.KeyOffset : 0;
        engine.ApplyWithNorm(source, separateKeys.AsSpan(offset), keyShape, Norm(keyNorm, keyWeights, headDim), MakePositions(), layout);
        TCache[] converted = new TCache[headDim];
        for (int sequence = 0; sequence < batch; sequence++)
        {
            for (int token = 0; token < tokens; token++)
            {
                for (int h = 0; h < keyShape.Heads; h++)
                {
                    int start = offset + (sequence * keyShape.BatchStride) + (token * keyShape.TokenStride) + (h * keyShape.HeadStride);
                    Convert(engine, separateKeys.AsSpan(start, headDim), converted);
                    int place = Place(sequence, temporal[(sequence * tokens) + token], h);
                    Assert.True(MemoryMarshal.AsBytes(converted.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(outputs.KeyCache.AsSpan(place, headDim))),
                        $"{engine}: the cached key of sequence {sequence} token {token} head {h} is not ApplyWithNorm's bits converted once");
                }
            }
        }
    }

    /// <summary>The span conversion between the activations' and the cache's type (a copy for the same type).</summary>
    private static void Convert(RopeEngine engine, ReadOnlySpan<T> from, Span<TCache> to)
    {
        if (typeof(T) == typeof(TCache))
        {
            MemoryMarshal.Cast<T, TCache>(from).CopyTo(to);
        }
        else if (typeof(TCache) == typeof(BFloat16))
        {
            engine.ConvertToBFloat16(MemoryMarshal.Cast<T, float>(from), MemoryMarshal.Cast<TCache, BFloat16>(to));
        }
        else
        {
            engine.ConvertToHalf(MemoryMarshal.Cast<T, float>(from), MemoryMarshal.Cast<TCache, Half>(to));
        }
    }

    /// <summary>Whether every result of the call is of a 16-bit type (activations, and the cache where there is one).</summary>
    private bool AllSixteenBit => typeof(T) != typeof(float) && (!operation.IsAppend || typeof(TCache) != typeof(float));

    private static T[] Activations(Random random, int length)
    {
        var values = new T[length];
        for (int i = 0; i < length; i++)
        {
            float value = (4 * random.NextSingle()) - 2;
            values[i] = typeof(T) == typeof(float) ? (T)(object)value : typeof(T) == typeof(BFloat16) ? (T)(object)(BFloat16)value : (T)(object)(Half)value;
        }

        return values;
    }

    private static float[] Weights(Random random, NormKind norm) => norm switch
    {
        NormKind.Weight => [.. Enumerable.Range(0, 256).Select(_ => 0.5f + random.NextSingle())],
        NormKind.OnePlusWeight => [.. Enumerable.Range(0, 256).Select(_ => random.NextSingle() - 0.5f)],
        _ => [],
    };

    private static RopeHeadNorm Norm(NormKind kind, float[] weights, int headDim) => kind switch
    {
        NormKind.Weight => RopeHeadNorm.Rms(weights.AsSpan(0, headDim), Epsilon),
        NormKind.OnePlusWeight => RopeHeadNorm.RmsOnePlusWeight(weights.AsSpan(0, headDim), Epsilon),
        NormKind.Unweighted => RopeHeadNorm.RmsUnweighted(Epsilon),
        _ => RopeHeadNorm.None,
    };

    private RopeShape Shape(TensorLayout layout, int heads) => layout switch
    {
        TensorLayout.Packed => RopeShape.Bshd(batch, tokens, heads, headDim),
        TensorLayout.HeadMajor => RopeShape.Bhsd(batch, heads, tokens, headDim),
        // Gaps between heads, tokens and sequences, which the call must leave as they are.
        _ => new RopeShape(batch, tokens, heads, headDim, (tokens * ((heads * (headDim + 2)) + 3)) + 1, (heads * (headDim + 2)) + 3, headDim + 2),
    };

    private RopePositions MakePositions() => combination.Positions switch
    {
        PositionSource.Start => RopePositions.Sequential(starts[0]),
        PositionSource.SequenceStarts => RopePositions.Sequential(starts),
        PositionSource.Int32 => temporal,
        PositionSource.Int64 => temporal.Select(position => (long)position).ToArray(),
        _ => RopePositions.Multimodal(temporal, height, width, sections!),
    };

    /// <summary>The call under test, writing into <paramref name="outputs"/>.</summary>
    private void Call(RopeEngine engine, RowSet rowSet, Outputs outputs)
    {
        RopeRows source = rowSet.Make();
        RopeLayout layout = combination.Layout;
        bool inverse = combination.Variant.Inverse;
        RopeHeadNorm qNorm = Norm(queryNorm, queryWeights, headDim), kNorm = Norm(keyNorm, keyWeights, headDim);
        switch (operation.Kind)
        {
            case Operation.Apply:
                engine.Apply(source, outputs.Queries.AsSpan(), queryShape, MakePositions(), layout, inverse);
                break;
            case Operation.ApplyQueriesKeys:
                engine.Apply(source, outputs.Queries.AsSpan(), queryShape, outputs.Keys.AsSpan(), keyShape, MakePositions(), layout, inverse);
                break;
            case Operation.ApplyOutOfPlace:
                engine.Apply<T>(source, outputs.Queries, outputs.QueryDestination, queryShape, MakePositions(), layout, inverse);
                break;
            case Operation.ApplyQueriesKeysOutOfPlace:
                engine.Apply<T>(source, outputs.Queries, outputs.QueryDestination, queryShape, outputs.Keys, outputs.KeyDestination, keyShape, MakePositions(),
                    layout, inverse);
                break;
            case Operation.NormWeight or Operation.NormOnePlusWeight or Operation.NormUnweighted:
                engine.ApplyWithNorm(source, outputs.Queries.AsSpan(), queryShape, qNorm, MakePositions(), layout);
                break;
            case Operation.NormQueriesKeys:
                engine.ApplyWithNorm(source, outputs.Queries.AsSpan(), queryShape, qNorm, outputs.Keys.AsSpan(), keyShape, kNorm, MakePositions(), layout);
                break;
            case Operation.NormPacked:
                engine.ApplyWithNorm(source, outputs.Qkv.AsSpan(), packing, qNorm, kNorm, MakePositions(), layout);
                break;
            case Operation.Append:
                engine.ApplyAndAppend(source, outputs.Queries.AsSpan(), queryShape, qNorm, outputs.Keys, outputs.Values, keyShape, kNorm, Cache(outputs),
                    MakePositions(), layout);
                break;
            default:
                engine.ApplyAndAppend(source, outputs.Qkv.AsSpan(), packing, qNorm, kNorm, Cache(outputs), MakePositions(), layout);
                break;
        }
    }

    private RopeKvCache<TCache> Cache(Outputs outputs) => operation.CacheLayout switch
    {
        CacheLayout.PositionMajor => RopeKvCache<TCache>.PositionMajor(outputs.KeyCache, outputs.ValueCache, batch, capacity, keyShape.Heads, headDim),
        CacheLayout.HeadMajor => RopeKvCache<TCache>.HeadMajor(outputs.KeyCache, outputs.ValueCache, batch, keyShape.Heads, capacity, headDim),
        _ => RopeKvCache<TCache>.Paged(outputs.KeyCache, outputs.ValueCache, BlockSize, keyShape.Heads, headDim, blockTable, capacity / BlockSize),
    };

    /// <summary>Where head <paramref name="head"/> of <paramref name="position"/> of <paramref name="sequence"/> lies in the cache, written out per layout.</summary>
    private int Place(int sequence, int position, int head)
    {
        int heads = keyShape.Heads;
        return operation.CacheLayout switch
        {
            CacheLayout.PositionMajor => (((sequence * capacity) + position) * heads + head) * headDim,
            CacheLayout.HeadMajor => (((sequence * heads) + head) * capacity + position) * headDim,
            _ => (((blockTable[(sequence * (capacity / BlockSize)) + (position / BlockSize)] * BlockSize) + (position % BlockSize)) * heads + head) * headDim,
        };
    }

    /// <summary>The cos and sin of every pair of token <paramref name="index"/>'s row (its stream's position per pair for M-RoPE).</summary>
    private (double[] Cos, double[] Sin) RowOf(int index)
    {
        int pairs = rotaryDim / 2;
        double[] cos = new double[pairs], sin = new double[pairs];
        for (int pair = 0; pair < pairs; pair++)
        {
            // Contiguous sections: temporal pairs first, then height, then width.
            int position = sections is null || pair < pairs - (2 * (pairs / 4)) ? temporal[index]
                : pair < pairs - (pairs / 4) ? height[index] : width[index];
            cos[pair] = rows.Cos[position][pair];
            sin[pair] = rows.Sin[position][pair];
        }

        return (cos, sin);
    }

    /// <summary>Every output against the oracle, and the memory the call only reads or must leave alone.</summary>
    private void Check(Outputs outputs, string path)
    {
        bool inverse = combination.Variant.Inverse;
        double normUnits = (((headDim + 15) / 16) + 21) / 2.0;
        double plainUnits = Kind<T>() == ElementKind.Single ? 2 : 3;
        double QueryUnits() => queryNorm == NormKind.None ? plainUnits : normUnits;
        double KeyUnits() => keyNorm == NormKind.None ? plainUnits : normUnits;
        switch (operation.Kind)
        {
            case Operation.Apply or Operation.ApplyQueriesKeys:
                CheckTensor("queries", outputs.Queries, queries, queryShape, 0, NormKind.None, queryWeights, inverse, plainUnits, path);
                if (operation.Kind == Operation.ApplyQueriesKeys)
                {
                    CheckTensor("keys", outputs.Keys, keys, keyShape, 0, NormKind.None, keyWeights, inverse, plainUnits, path);
                }

                break;
            case Operation.ApplyOutOfPlace or Operation.ApplyQueriesKeysOutOfPlace:
                bool same = combination.Variant.SameMemory;
                CheckTensor("query destination", same ? outputs.Queries : outputs.QueryDestination, queries, queryShape, 0, NormKind.None, queryWeights, inverse,
                    plainUnits, path, same ? queries : destinationCanary);
                if (!same)
                {
                    AssertSameBits(queries, outputs.Queries, $"{path}: the query source was written");
                }

                if (operation.Kind == Operation.ApplyQueriesKeysOutOfPlace)
                {
                    CheckTensor("key destination", same ? outputs.Keys : outputs.KeyDestination, keys, keyShape, 0, NormKind.None, keyWeights, inverse,
                        plainUnits, path, same ? keys : destinationCanary);
                    if (!same)
                    {
                        AssertSameBits(keys, outputs.Keys, $"{path}: the key source was written");
                    }
                }

                break;
            case Operation.NormWeight or Operation.NormOnePlusWeight or Operation.NormUnweighted:
                CheckTensor("normalized values", outputs.Queries, queries, queryShape, 0, queryNorm, queryWeights, false, normUnits, path);
                break;
            case Operation.NormQueriesKeys:
                CheckTensor("queries", outputs.Queries, queries, queryShape, 0, queryNorm, queryWeights, false, QueryUnits(), path);
                CheckTensor("keys", outputs.Keys, keys, keyShape, 0, keyNorm, keyWeights, false, KeyUnits(), path);
                break;
            case Operation.NormPacked:
                // Queries and keys normalized and rotated where they lie; the values and nothing else as they were.
                CheckTensor("packed queries", outputs.Qkv, qkv, queryShape, 0, queryNorm, queryWeights, false, QueryUnits(), path, checkGaps: false);
                CheckTensor("packed keys", outputs.Qkv, qkv, keyShape, packing.KeyOffset, keyNorm, keyWeights, false, KeyUnits(), path, checkGaps: false);
                AssertRowsKept(outputs.Qkv, packing.ValueOffset, keyShape.Heads * headDim, $"{path}: packed values were written");
                break;
            default:
                CheckAppend(outputs, normUnits, plainUnits, QueryUnits(), path);
                break;
        }
    }

    /// <summary>Each packed row's run from <paramref name="offset"/> as in the input.</summary>
    private void AssertRowsKept(T[] output, int offset, int length, string message)
    {
        for (int index = 0; index < batch * tokens; index++)
        {
            int at = (index * packing.RowLength) + offset;
            AssertSameBits(qkv.AsSpan(at, length), output.AsSpan(at, length), message);
        }
    }

    private void CheckAppend(Outputs outputs, double normUnits, double plainUnits, double queryUnits, string path)
    {
        bool packed = operation.Kind == Operation.AppendPacked;
        if (packed)
        {
            CheckTensor("packed queries", outputs.Qkv, qkv, queryShape, 0, queryNorm, queryWeights, false, queryUnits, path, checkGaps: false);
            AssertRowsKept(outputs.Qkv, packing.KeyOffset, 2 * keyShape.Heads * headDim, $"{path}: packed keys or values were written");
        }
        else
        {
            CheckTensor("queries", outputs.Queries, queries, queryShape, 0, queryNorm, queryWeights, false, queryUnits, path);
            AssertSameBits(keys, outputs.Keys, $"{path}: the keys were written");
            AssertSameBits(values, outputs.Values, $"{path}: the values were written");
        }

        // Keys: normalized and rotated, then rounded to the cache's type; values converted; other places as they were.
        ElementKind cacheKind = Kind<TCache>();
        Expectation expected = cacheExpectation ??= ExpectCache(packed, normUnits, plainUnits);
        TCache canary = Outputs.CacheCanary(1)[0];
        for (int i = 0; i < cacheLength; i++)
        {
            TCache key = outputs.KeyCache[i], value = outputs.ValueCache[i];
            switch (expected.Kinds[i])
            {
                case ElementCheck.Kept:
                    if (!SameBits(key, canary) || !SameBits(value, canary))
                    {
                        Assert.Fail($"{path}: cache element {i}, a place no token writes, was changed");
                    }

                    break;
                default:
                    if (!expected.Allows(i, Widen(key)))
                    {
                        Assert.Fail($"{path} cached key element {i} ({Expectation.Describe(expected.Where[i])}): {Widen(key)} is not {expected.Exact[i]} within the bound " +
                            $"({expected.Units} units of {expected.Magnitudes[i]})");
                    }

                    if (Widen(value) != expected.Values[i])
                    {
                        Assert.Fail($"{path} cached value element {i} ({Expectation.Describe(expected.Where[i])}): {Widen(value)} is not {expected.Values[i]}");
                    }

                    break;
            }
        }
    }

    private Expectation? cacheExpectation;

    private readonly Dictionary<string, Expectation> tensorExpectations = [];

    /// <summary>What every cache element must hold: the token's rotated key and converted value at its places, the canary elsewhere.</summary>
    private Expectation ExpectCache(bool packed, double normUnits, double plainUnits)
    {
        ElementKind cacheKind = Kind<TCache>();
        double units = keyNorm != NormKind.None ? normUnits : Kind<T>() == ElementKind.Single || cacheKind == ElementKind.Single ? 2 : 3;
        var expected = new Expectation(cacheLength, units);
        T[] keySource = packed ? qkv : keys, valueSource = packed ? qkv : values;
        int keyOffset = packed ? packing.KeyOffset : 0, valueOffset = packed ? packing.ValueOffset : 0;
        double[] head = new double[headDim], magnitudes = new double[headDim];
        for (int sequence = 0; sequence < batch; sequence++)
        {
            for (int token = 0; token < tokens; token++)
            {
                int index = (sequence * tokens) + token;
                (double[] cos, double[] sin) = RowOf(index);
                for (int h = 0; h < keyShape.Heads; h++)
                {
                    int source = (sequence * keyShape.BatchStride) + (token * keyShape.TokenStride) + (h * keyShape.HeadStride);
                    for (int i = 0; i < headDim; i++)
                    {
                        head[i] = Widen(keySource[keyOffset + source + i]);
                    }

                    Float64Rope.Normalize(head, keyNorm, keyWeights, Epsilon);
                    Float64Rope.Rotate(head, rotaryDim, combination.Layout, cos, sin, false, magnitudes);
                    int place = Place(sequence, temporal[index], h);
                    for (int i = 0; i < headDim; i++)
                    {
                        expected.Set(place + i, ElementCheck.Bound, cacheKind, head[i], magnitudes[i], Expectation.Locate(sequence, token, h, i));
                        expected.Values[place + i] = Float64Rope.Round(cacheKind, Widen(valueSource[valueOffset + source + i]));
                    }
                }
            }
        }

        return expected;
    }

    /// <summary>
    /// One tensor of <paramref name="shape"/> at <paramref name="offset"/> of <paramref name="output"/>: every head
    /// normalized and rotated as the oracle says within <paramref name="units"/>, pass-through elements unchanged
    /// without a norm, and (where <paramref name="checkGaps"/>) every element outside the heads as in
    /// <paramref name="gaps"/> (the input by default).
    /// </summary>
    private void CheckTensor(string name, T[] output, T[] input, RopeShape shape, int offset, NormKind norm, float[] weights, bool inverse, double units,
        string path, T[]? gaps = null, bool checkGaps = true)
    {
        if (!tensorExpectations.TryGetValue(name, out Expectation? expected))
        {
            tensorExpectations[name] = expected = ExpectTensor(input, output.Length, shape, offset, norm, weights, inverse, units);
        }

        ElementKind kind = Kind<T>();
        T[] expectedGaps = gaps ?? input;
        for (int i = 0; i < output.Length; i++)
        {
            bool right = expected.Kinds[i] switch
            {
                ElementCheck.Bound => expected.Allows(i, Widen(output[i])),
                ElementCheck.Unchanged => SameBits(output[i], input[i]),
                _ => !checkGaps || SameBits(output[i], expectedGaps[i]),
            };
            if (!right)
            {
                Assert.Fail(expected.Kinds[i] switch
                {
                    ElementCheck.Kept => $"{path} {name}: element {i}, outside every head, was changed",
                    ElementCheck.Unchanged => $"{path} {name} {Expectation.Describe(expected.Where[i])}: {Widen(output[i])} passes through unchanged, but was {Widen(input[i])}",
                    _ => $"{path} {name} {Expectation.Describe(expected.Where[i])}: {Widen(output[i])} is not {expected.Exact[i]} within the bound ({units} units of {expected.Magnitudes[i]})",
                });
            }
        }
    }

    private Expectation ExpectTensor(T[] input, int length, RopeShape shape, int offset, NormKind norm, float[] weights, bool inverse, double units)
    {
        var expected = new Expectation(length, units);
        double[] head = new double[headDim], magnitudes = new double[headDim];
        for (int sequence = 0; sequence < shape.Batch; sequence++)
        {
            for (int token = 0; token < shape.Tokens; token++)
            {
                (double[] cos, double[] sin) = RowOf((sequence * shape.Tokens) + token);
                for (int h = 0; h < shape.Heads; h++)
                {
                    int start = offset + (sequence * shape.BatchStride) + (token * shape.TokenStride) + (h * shape.HeadStride);
                    for (int i = 0; i < headDim; i++)
                    {
                        head[i] = Widen(input[start + i]);
                    }

                    Float64Rope.Normalize(head, norm, weights, Epsilon);
                    Float64Rope.Rotate(head, rotaryDim, combination.Layout, cos, sin, inverse, magnitudes);
                    for (int i = 0; i < headDim; i++)
                    {
                        expected.Set(start + i, norm == NormKind.None && i >= rotaryDim ? ElementCheck.Unchanged : ElementCheck.Bound, Kind<T>(), head[i],
                            magnitudes[i], Expectation.Locate(sequence, token, h, i));
                    }
                }
            }
        }

        return expected;
    }

    private static void AssertSameBits(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, string message) =>
        Assert.True(MemoryMarshal.AsBytes(expected).SequenceEqual(MemoryMarshal.AsBytes(actual)), message);

    /// <summary>How an output element is checked.</summary>
    private enum ElementCheck : byte
    {
        Kept,
        Unchanged,
        Bound,
    }

    /// <summary>The oracle's result for every element of one output, computed once for all paths.</summary>
    private sealed class Expectation(int length, double units)
    {
        public ElementCheck[] Kinds { get; } = new ElementCheck[length];

        public double[] Exact { get; } = new double[length];

        public double[] Magnitudes { get; } = new double[length];

        /// <summary>The least and the greatest result the bound allows (the oracle's work done once, not per path).</summary>
        public double[] Low { get; } = new double[length];

        public double[] High { get; } = new double[length];

        public double[] Values { get; } = new double[length];

        /// <summary>Each element's sequence, token, head and index in the head, 16 bits each.</summary>
        public long[] Where { get; } = new long[length];

        public double Units => units;

        public void Set(int index, ElementCheck check, ElementKind type, double exact, double magnitude, long where)
        {
            Kinds[index] = check;
            Exact[index] = exact;
            Magnitudes[index] = magnitude;
            (Low[index], High[index]) = Float64Rope.Allowed(type, exact, magnitude, units);
            Where[index] = where;
        }

        public bool Allows(int index, double actual) => actual >= Low[index] && actual <= High[index];

        public static long Locate(int sequence, int token, int head, int element) => ((long)sequence << 48) | ((long)token << 32) | ((long)head << 16) | (uint)element;

        public static string Describe(long where) =>
            $"sequence {where >> 48} token {(where >> 32) & 0xFFFF} head {(where >> 16) & 0xFFFF} element {where & 0xFFFF}";
    }

    /// <summary>The buffers one run writes: copies of the inputs, canary-filled destinations and caches.</summary>
    private sealed class Outputs
    {
        public T[] Queries { get; private init; } = [];

        public T[] Keys { get; private init; } = [];

        public T[] Values { get; private init; } = [];

        public T[] Qkv { get; private init; } = [];

        public T[] QueryDestination { get; private init; } = [];

        public T[] KeyDestination { get; private init; } = [];

        public TCache[] KeyCache { get; private init; } = [];

        public TCache[] ValueCache { get; private init; } = [];

        public static Outputs For(MatrixCase<T, TCache> matrixCase)
        {
            MatrixOperation operation = matrixCase.operation;
            bool apart = operation.IsOutOfPlace && !matrixCase.combination.Variant.SameMemory;
            T[] queries = [.. matrixCase.queries], keys = [.. matrixCase.keys];
            return new Outputs
            {
                Queries = queries,
                Keys = keys,
                Values = [.. matrixCase.values],
                Qkv = [.. matrixCase.qkv],
                QueryDestination = apart ? matrixCase.destinationCanary[..matrixCase.queryShape.RequiredLength] : queries,
                KeyDestination = apart ? matrixCase.destinationCanary[..matrixCase.keyShape.RequiredLength] : keys,
                KeyCache = operation.IsAppend ? CacheCanary(matrixCase.cacheLength) : [],
                ValueCache = operation.IsAppend ? CacheCanary(matrixCase.cacheLength) : [],
            };
        }

        public static TCache[] CacheCanary(int length)
        {
            var cache = new TCache[length];
            MemoryMarshal.AsBytes(cache.AsSpan()).Fill(0x7C);
            return cache;
        }

        public byte[][] All() =>
        [
            Bytes(Queries), Bytes(Keys), Bytes(Values), Bytes(Qkv), Bytes(QueryDestination), Bytes(KeyDestination), Bytes(KeyCache), Bytes(ValueCache),
        ];

        /// <summary>The results of 16-bit type: activations written (destinations apart from them included), and the caches.</summary>
        public byte[][] SixteenBit() =>
        [
            .. typeof(T) == typeof(float) ? [] : new[] { Bytes(Queries), Bytes(Keys), Bytes(Qkv), Bytes(QueryDestination), Bytes(KeyDestination) },
            .. typeof(TCache) == typeof(float) ? [] : new[] { Bytes(KeyCache), Bytes(ValueCache) },
        ];

        public bool SameBits(Outputs other)
        {
            byte[][] mine = All(), theirs = other.All();
            return mine.Zip(theirs).All(pair => pair.First.AsSpan().SequenceEqual(pair.Second));
        }

        public void AssertUnchanged(MatrixCase<T, TCache> matrixCase)
        {
            AssertSameBits(matrixCase.queries, Queries, "a refused call wrote the queries");
            AssertSameBits(matrixCase.qkv, Qkv, "a refused call wrote the packed buffer");
            Assert.True(Bytes(KeyCache).AsSpan().SequenceEqual(Bytes(CacheCanary(KeyCache.Length))), "a refused call wrote the key cache");
            Assert.True(Bytes(ValueCache).AsSpan().SequenceEqual(Bytes(CacheCanary(ValueCache.Length))), "a refused call wrote the value cache");
        }

        private static byte[] Bytes<TValue>(TValue[] values)
            where TValue : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }
}
