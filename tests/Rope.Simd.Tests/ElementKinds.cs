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
        RopeRows source = rows is RopeTable table ? table : (RopeFrequencies)rows;
        if (withKeys)
        {
            engine.Apply(source, queries, queryShape, keys, keyShape, positions, layout, inverse);
        }
        else
        {
            engine.Apply(source, queries, queryShape, positions, layout, inverse);
        }
    }
}
