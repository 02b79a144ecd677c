using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Drivers;
using Rope.Simd.Kernels;
using Rope.Simd.Rows;

namespace Rope.Simd.Rows;

/// <summary>The rows of a <see cref="RopeTable"/> (its array is pinned, so references into it stay valid).</summary>
internal readonly struct TableRows(RopeTable table) : IRowSource
{
    public int RotaryDim => table.RotaryDim;

    public int ScratchLength => 0;

    public bool Contains(long position) => position >= table.FirstPosition && position < table.EndPosition;

    public ref float Row<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        if (!Contains(position))
        {
            ChangedPositions.ThrowOutside(position, table.FirstPosition, table.EndPosition);
        }

        return ref table.RowReference((int)position);
    }

    public static bool HasHalves => false;

    // Interleaved rows have no runs of cosines and sines; the driver asks only sources whose HasHalves is true.
    public RowHalves Halves<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct => throw new UnreachableException();
}

/// <summary>Rows computed for the call with the table builder's arithmetic: the same bits a table holds.</summary>
internal readonly struct ComputedRows(RopeFrequencies frequencies) : IRowSource
{
    public int RotaryDim => frequencies.RotaryDim;

    public int ScratchLength => frequencies.RotaryDim;

    public bool Contains(long position) => position is >= 0 and <= int.MaxValue;

    public ref float Row<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        if (!Contains(position))
        {
            ChangedPositions.ThrowOutside(position, 0, (long)int.MaxValue + 1);
        }

        CosSinRowWriter.WriteRows(frequencies.Turns, frequencies.PairCount, frequencies.AttentionFactor, (int)position, 1, scratch);
        return ref MemoryMarshal.GetReference(scratch);
    }

    public static bool HasHalves => false;

    // Interleaved rows have no runs of cosines and sines; the driver asks only sources whose HasHalves is true.
    public RowHalves Halves<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct => throw new UnreachableException();
}

/// <summary>
/// Caller rows <c>[c0, s0, c1, s1, ...]</c> of <typeparamref name="TValue"/>, pinned by the entry for the call: float32
/// rows are read where they lie, 16-bit rows widened (exactly) into scratch.
/// </summary>
internal readonly unsafe struct InterleavedRows<TValue>(byte* rows, int rotaryDim, int rowStride, int lastRowStart) : IRowSource
    where TValue : unmanaged
{
    public int RotaryDim => rotaryDim;

    public int ScratchLength => typeof(TValue) == typeof(float) ? 0 : rotaryDim;

    // position ≤ lastRowStart first (the stride is at least 1), so the product cannot overflow.
    public bool Contains(long position) => position >= 0 && position <= lastRowStart && position * rowStride <= lastRowStart;

    public ref float Row<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        if (!Contains(position))
        {
            ChangedPositions.ThrowOutside(position, 0, lastRowStart / rowStride + 1);
        }

        TValue* row = (TValue*)rows + position * rowStride;
        if (typeof(TValue) == typeof(float))
        {
            return ref *(float*)row;
        }

        RowValues<TOps, TVector>.Widen(row, rotaryDim, scratch);
        return ref MemoryMarshal.GetReference(scratch);
    }

    public static bool HasHalves => false;

    // Interleaved rows have no runs of cosines and sines; the driver asks only sources whose HasHalves is true.
    public RowHalves Halves<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct => throw new UnreachableException();
}

/// <summary>
/// Caller cos and sin as separate runs of one value per pair (vLLM's <c>[cos | sin]</c> rows, ONNX's two caches,
/// Hugging Face's first halves), pinned by the entry: interleaved into a scratch row, widened first if 16-bit.
/// </summary>
internal readonly unsafe struct SplitRows<TValue>(byte* cos, byte* sin, int rotaryDim, int rowStride, int lastRowStart) : IRowSource
    where TValue : unmanaged
{
    public int RotaryDim => rotaryDim;

    // The interleaved row, and for 16-bit values the widened cos and sin before they are interleaved.
    public int ScratchLength => typeof(TValue) == typeof(float) ? rotaryDim : 2 * rotaryDim;

    // position ≤ lastRowStart first (the stride is at least 1), so the product cannot overflow.
    public bool Contains(long position) => position >= 0 && position <= lastRowStart && position * rowStride <= lastRowStart;

    public ref float Row<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        // The runs as Halves gives them (16-bit values widened behind the row), zipped into the row.
        Span<float> row = scratch[..rotaryDim];
        RowHalves halves = Halves<TOps, TVector>(position, scratch[rotaryDim..]);
        RowValues<TOps, TVector>.Zip(ref halves.Cosines, ref halves.Sines, rotaryDim / 2, row);
        return ref MemoryMarshal.GetReference(row);
    }

    public static bool HasHalves => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowHalves Halves<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        if (!Contains(position))
        {
            ChangedPositions.ThrowOutside(position, 0, lastRowStart / rowStride + 1);
        }

        int pairs = rotaryDim / 2;
        TValue* cosRow = (TValue*)cos + position * rowStride, sinRow = (TValue*)sin + position * rowStride;
        if (typeof(TValue) == typeof(float))
        {
            return new RowHalves(ref *(float*)cosRow, ref *(float*)sinRow);
        }

        if (sinRow == cosRow + pairs)
        {
            // [cos | sin] rows: both runs widened in one pass.
            RowValues<TOps, TVector>.Widen(cosRow, 2 * pairs, scratch);
        }
        else
        {
            RowValues<TOps, TVector>.Widen(cosRow, pairs, scratch);
            RowValues<TOps, TVector>.Widen(sinRow, pairs, scratch[pairs..]);
        }

        return new RowHalves(ref scratch[0], ref scratch[pairs]);
    }
}

/// <summary>Vector helpers for building a float32 row from caller values.</summary>
internal static unsafe class RowValues<TOps, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    /// <summary>Widens <paramref name="count"/> values of a 16-bit type to float32, exactly.</summary>
    public static void Widen<TValue>(TValue* source, int count, Span<float> destination)
        where TValue : unmanaged
    {
        if (typeof(TValue) == typeof(BFloat16) && count >= TOps.Count)
        {
            // In order, register by register; the last register ends at count and may overlap its predecessor.
            ref ushort from = ref *(ushort*)source;
            ref float to = ref MemoryMarshal.GetReference(destination);
            nuint last = (nuint)(count - TOps.Count);
            for (nuint i = 0; ; i += (nuint)TOps.Count)
            {
                i = Math.Min(i, last);
                TOps.Store(TOps.LoadBFloat16(ref Unsafe.Add(ref from, i)), ref Unsafe.Add(ref to, i));
                if (i == last)
                {
                    break;
                }
            }
        }
        else if (typeof(TValue) == typeof(BFloat16))
        {
            ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.Widen(new ReadOnlySpan<BFloat16>(source, count), destination);
        }
        else
        {
            ConversionDriver<TOps, TVector, HalfCodec, Half>.Widen(new ReadOnlySpan<Half>(source, count), destination);
        }
    }

    /// <summary>row[2i] = cos[i], row[2i + 1] = sin[i] for i &lt; <paramref name="pairs"/>.</summary>
    public static void Zip(ref float cos, ref float sin, int pairs, Span<float> row)
    {
        ref float destination = ref MemoryMarshal.GetReference(row);
        int count = TOps.Count, pair = 0;
        if (TOps.IsAccelerated)
        {
            for (; pair + count <= pairs; pair += count)
            {
                TVector c = TOps.Load(ref Unsafe.Add(ref cos, pair)), s = TOps.Load(ref Unsafe.Add(ref sin, pair));
                TOps.Store(TOps.ZipLow(c, s), ref Unsafe.Add(ref destination, 2 * pair));
                TOps.Store(TOps.ZipHigh(c, s), ref Unsafe.Add(ref destination, 2 * pair + count));
            }
        }

        for (; pair < pairs; pair++)
        {
            Unsafe.Add(ref destination, 2 * pair) = Unsafe.Add(ref cos, pair);
            Unsafe.Add(ref destination, 2 * pair + 1) = Unsafe.Add(ref sin, pair);
        }
    }
}

/// <summary>
/// The error for a position that was valid when the call was checked and is not where it is used. Kept out of line so
/// the row sources' hot paths stay small enough to inline.
/// </summary>
internal static class ChangedPositions
{
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowOutside(long position, long first, long end) =>
        throw new ArgumentOutOfRangeException("positions", position,
            $"Position {position} is outside the rows [{first}, {end}); it was inside when the call was validated, so the positions changed while the call ran.");
}
