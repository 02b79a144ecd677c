using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>The 16-bit activation types; tests hold their values as raw bit patterns.</summary>
public enum PackedType
{
    BFloat16,
    Half,
}

/// <summary>
/// The test-side view of the 16-bit types: widening, correct rounding written independently of the library (bfloat16 by
/// comparing with the exact midpoint, float16 by the runtime's own <c>(Half)double</c>), and the engine calls on raw buffers.
/// </summary>
public static class PackedElements
{
    public static readonly PackedType[] All = [PackedType.BFloat16, PackedType.Half];

    public static float Widen(PackedType type, ushort bits) => type == PackedType.BFloat16
        ? BitConverter.UInt32BitsToSingle((uint)bits << 16)
        : (float)BitConverter.UInt16BitsToHalf(bits);

    public static float[] Widen(PackedType type, ushort[] bits) => [.. bits.Select(b => Widen(type, b))];

    /// <summary>The value rounded once to nearest, ties to even.</summary>
    public static ushort Round(PackedType type, double value) => type == PackedType.BFloat16
        ? RoundToBFloat16(value)
        : BitConverter.HalfToUInt16Bits((Half)value);

    public static ushort[] Round(PackedType type, IEnumerable<float> values) => [.. values.Select(v => Round(type, v))];

    /// <summary>Spacing of the type's values at magnitude <paramref name="magnitude"/> (a unit in the last place).</summary>
    public static double Ulp(PackedType type, double magnitude)
    {
        (int mantissaBits, int minExponent) = type == PackedType.BFloat16 ? (7, -126) : (10, -14);
        int exponent = magnitude == 0 ? minExponent : Math.Max(Math.ILogB(magnitude), minExponent);
        return Math.ScaleB(1, exponent - mantissaBits);
    }

    /// <summary>A NaN pattern with a payload no computation produces, to mark memory that must not be touched.</summary>
    public static ushort Canary(PackedType type) => type == PackedType.BFloat16 ? (ushort)0x7FA5 : (ushort)0x7E5A;

    public static ushort[] Activations(PackedType type, Random random, int length) => Round(type, TestData.Activations(random, length));

    // Raw 16-bit buffers as the type's elements, through the overload of the same form.
    public static void Apply(RopeEngine engine, PackedType type, RopeTable table, Span<ushort> values, RopeShape shape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        if (type == PackedType.BFloat16)
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, BFloat16>(values), shape, positions, layout, inverse);
        }
        else
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, Half>(values), shape, positions, layout, inverse);
        }
    }

    public static void Apply(RopeEngine engine, PackedType type, RopeTable table, Span<ushort> queries, RopeShape queryShape,
        Span<ushort> keys, RopeShape keyShape, RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        if (type == PackedType.BFloat16)
        {
            InPlace<BFloat16>(engine, table, queries, queryShape, keys, keyShape, positions, layout, inverse);
        }
        else
        {
            InPlace<Half>(engine, table, queries, queryShape, keys, keyShape, positions, layout, inverse);
        }
    }

    public static void Apply(RopeEngine engine, PackedType type, RopeTable table, ReadOnlySpan<ushort> source, Span<ushort> destination,
        RopeShape shape, RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        if (type == PackedType.BFloat16)
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, BFloat16>(source), MemoryMarshal.Cast<ushort, BFloat16>(destination), shape, positions, layout, inverse);
        }
        else
        {
            engine.Apply(table, MemoryMarshal.Cast<ushort, Half>(source), MemoryMarshal.Cast<ushort, Half>(destination), shape, positions, layout, inverse);
        }
    }

    public static void Apply(RopeEngine engine, PackedType type, RopeTable table,
        ReadOnlySpan<ushort> querySource, Span<ushort> queryDestination, RopeShape queryShape,
        ReadOnlySpan<ushort> keySource, Span<ushort> keyDestination, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
    {
        if (type == PackedType.BFloat16)
        {
            OutOfPlace<BFloat16>(engine, table, querySource, queryDestination, queryShape, keySource, keyDestination, keyShape, positions, layout, inverse);
        }
        else
        {
            OutOfPlace<Half>(engine, table, querySource, queryDestination, queryShape, keySource, keyDestination, keyShape, positions, layout, inverse);
        }
    }

    private static void InPlace<T>(RopeEngine engine, RopeTable table, Span<ushort> queries, RopeShape queryShape,
        Span<ushort> keys, RopeShape keyShape, RopePositions positions, RopeLayout layout, bool inverse)
        where T : unmanaged =>
        engine.Apply(table, MemoryMarshal.Cast<ushort, T>(queries), queryShape, MemoryMarshal.Cast<ushort, T>(keys), keyShape, positions, layout, inverse);

    private static void OutOfPlace<T>(RopeEngine engine, RopeTable table,
        ReadOnlySpan<ushort> querySource, Span<ushort> queryDestination, RopeShape queryShape,
        ReadOnlySpan<ushort> keySource, Span<ushort> keyDestination, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse)
        where T : unmanaged =>
        engine.Apply(table, MemoryMarshal.Cast<ushort, T>(querySource), MemoryMarshal.Cast<ushort, T>(queryDestination), queryShape,
            MemoryMarshal.Cast<ushort, T>(keySource), MemoryMarshal.Cast<ushort, T>(keyDestination), keyShape, positions, layout, inverse);

    public static void Narrow(RopeEngine engine, PackedType type, ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (type == PackedType.BFloat16)
        {
            engine.ConvertToBFloat16(source, MemoryMarshal.Cast<ushort, BFloat16>(destination));
        }
        else
        {
            engine.ConvertToHalf(source, MemoryMarshal.Cast<ushort, Half>(destination));
        }
    }

    public static void Widen(RopeEngine engine, PackedType type, ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (type == PackedType.BFloat16)
        {
            engine.ConvertToSingle(MemoryMarshal.Cast<ushort, BFloat16>(source), destination);
        }
        else
        {
            engine.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
        }
    }

    /// <summary>
    /// Rounds by comparing with the exact midpoint of the two neighbouring bfloat16 values, all in exact double
    /// arithmetic: a definition of round-to-nearest-even that shares nothing with the library's bit tricks.
    /// </summary>
    private static ushort RoundToBFloat16(double value)
    {
        if (double.IsNaN(value))
        {
            return 0x7FC0;
        }

        ushort sign = (ushort)(double.IsNegative(value) ? 0x8000 : 0);
        double magnitude = Math.Abs(value);
        double largest = Math.ScaleB(255, 127 - 7);
        if (magnitude >= largest + Math.ScaleB(1, 127 - 8))
        {
            return (ushort)(sign | 0x7F80);
        }

        double quantum = Ulp(PackedType.BFloat16, magnitude);
        double units = Math.Floor(magnitude / quantum);
        double remainder = magnitude / quantum - units;
        if (remainder > 0.5 || (remainder == 0.5 && units % 2 == 1))
        {
            units++;
        }

        return (ushort)(sign | (BitConverter.SingleToUInt32Bits((float)(units * quantum)) >> 16));
    }
}
