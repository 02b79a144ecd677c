using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>The three activation types behind one generic call, so a test body runs for each.</summary>
public static class ElementKinds
{
    public static readonly Type[] All = [typeof(float), typeof(BFloat16), typeof(Half)];

    public static TheoryData<RopePath, string> SupportedPathsWithTypes
    {
        get
        {
            var data = new TheoryData<RopePath, string>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (Type type in All)
                {
                    data.Add(engine.Path, type.Name);
                }
            }

            return data;
        }
    }

    public static T From<T>(float value)
        where T : unmanaged =>
        typeof(T) == typeof(float) ? (T)(object)value
        : typeof(T) == typeof(BFloat16) ? (T)(object)(BFloat16)value
        : (T)(object)(Half)value;

    public static T[] Activations<T>(Random random, int length)
        where T : unmanaged => [.. TestData.Activations(random, length).Select(From<T>)];

    public static bool SameBits<T>(T[] expected, T[] actual)
        where T : unmanaged =>
        MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.AsSpan()));

    /// <summary>In place, queries with keys (or alone when <paramref name="withKeys"/> is false), from a table or from frequencies.</summary>
    public static void Apply<T>(RopeEngine engine, object rows, Span<T> queries, RopeShape queryShape, Span<T> keys, RopeShape keyShape,
        bool withKeys, RopePositions positions, RopeLayout layout, bool inverse)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            Span<float> q = MemoryMarshal.Cast<T, float>(queries), k = MemoryMarshal.Cast<T, float>(keys);
            switch (rows, withKeys)
            {
                case (RopeTable table, false): engine.Apply(table, q, queryShape, positions, layout, inverse); break;
                case (RopeTable table, true): engine.Apply(table, q, queryShape, k, keyShape, positions, layout, inverse); break;
                case (RopeFrequencies frequencies, false): engine.Apply(frequencies, q, queryShape, positions, layout, inverse); break;
                default: engine.Apply((RopeFrequencies)rows, q, queryShape, k, keyShape, positions, layout, inverse); break;
            }
        }
        else if (typeof(T) == typeof(BFloat16))
        {
            Span<BFloat16> q = MemoryMarshal.Cast<T, BFloat16>(queries), k = MemoryMarshal.Cast<T, BFloat16>(keys);
            switch (rows, withKeys)
            {
                case (RopeTable table, false): engine.Apply(table, q, queryShape, positions, layout, inverse); break;
                case (RopeTable table, true): engine.Apply(table, q, queryShape, k, keyShape, positions, layout, inverse); break;
                case (RopeFrequencies frequencies, false): engine.Apply(frequencies, q, queryShape, positions, layout, inverse); break;
                default: engine.Apply((RopeFrequencies)rows, q, queryShape, k, keyShape, positions, layout, inverse); break;
            }
        }
        else
        {
            Span<Half> q = MemoryMarshal.Cast<T, Half>(queries), k = MemoryMarshal.Cast<T, Half>(keys);
            switch (rows, withKeys)
            {
                case (RopeTable table, false): engine.Apply(table, q, queryShape, positions, layout, inverse); break;
                case (RopeTable table, true): engine.Apply(table, q, queryShape, k, keyShape, positions, layout, inverse); break;
                case (RopeFrequencies frequencies, false): engine.Apply(frequencies, q, queryShape, positions, layout, inverse); break;
                default: engine.Apply((RopeFrequencies)rows, q, queryShape, k, keyShape, positions, layout, inverse); break;
            }
        }
    }
}
