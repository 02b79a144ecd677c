using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Drivers;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Positions;
using Rope.Simd.Validation;

namespace Rope.Simd.Rows;

/// <summary>
/// A token's cos/sin: an interleaved row <c>[c0, s0, c1, s1, ...]</c> of float32 (<see cref="Row"/>), or, for caller
/// rows that keep cosines and sines apart, the two runs of RotaryDim/2 floats each (<see cref="Cosines"/>,
/// <see cref="Sines"/>), so half-split pairs skip the interleaved row.
/// </summary>
internal readonly ref struct RowView
{
    public readonly ref float Row;
    public readonly ref float Cosines;
    public readonly ref float Sines;

    public RowView(ref float row) => Row = ref row;

    public RowView(ref float cosines, ref float sines)
    {
        Cosines = ref cosines;
        Sines = ref sines;
    }

    /// <summary>Whether the view is two runs rather than an interleaved row.</summary>
    public bool IsRuns => !Unsafe.IsNullRef(ref Cosines);
}

/// <summary>
/// Where a call reads each position's row: a table, the frequencies, or the caller's cos/sin in its own layout and
/// value type (pinned by the entry for the call), assembled pair by pair from three streams for multimodal positions.
/// The kind is a value, one predictable branch per token; only the vector widening of 16-bit caller rows is
/// specialized per ISA.
/// </summary>
internal readonly unsafe struct RowReader
{
    private readonly RowKind kind;
    private readonly int rotaryDim, rowStride, lastRowStart;
    private readonly RopeTable? table;
    private readonly RopeFrequencies? frequencies;
    private readonly byte* cosines, sines;
    private readonly MropeSections? streams;

    private RowReader(RowKind kind, int rotaryDim, RopeTable? table, RopeFrequencies? frequencies, byte* cosines, byte* sines, int rowStride,
        int lastRowStart, MropeSections? streams)
    {
        this.kind = kind;
        this.rotaryDim = rotaryDim;
        this.table = table;
        this.frequencies = frequencies;
        this.cosines = cosines;
        this.sines = sines;
        this.rowStride = rowStride;
        this.lastRowStart = lastRowStart;
        this.streams = streams;
    }

    /// <summary>
    /// The rows of <paramref name="rows"/>, caller spans pinned at <paramref name="first"/> and <paramref name="second"/>;
    /// each token's row assembled from three streams by <paramref name="streams"/> where positions are multimodal.
    /// </summary>
    public static RowReader For(scoped in RopeRows rows, byte* first, byte* second, MropeSections? streams)
    {
        switch (rows.Format)
        {
            case RopeRowFormat.Table:
                return new(RowKind.Table, rows.RotaryDim, rows.Table, null, null, null, 0, 0, streams);
            case RopeRowFormat.Computed:
                return new(RowKind.Computed, rows.RotaryDim, null, rows.Frequencies, null, null, 0, 0, streams);
            case RopeRowFormat.Interleaved:
                return new(Kind(RowKind.InterleavedSingle, rows.Value), rows.RotaryDim, null, null, first, null, rows.RowStride, rows.LastRowStart, streams);
            case RopeRowFormat.CosThenSin:
            case RopeRowFormat.Separate:
                // [cos | sin] rows are two runs in one span: the sines start half a row in.
                byte* sineRuns = rows.Format == RopeRowFormat.CosThenSin ? first + rows.RotaryDim / 2 * ValueSize(rows.Value) : second;
                return new(Kind(RowKind.RunsSingle, rows.Value), rows.RotaryDim, null, null, first, sineRuns, rows.RowStride, rows.LastRowStart, streams);
            default:
                throw new NotSupportedException($"Row format {rows.Format} has no reader.");
        }
    }

    /// <summary>One float32 row at <paramref name="row"/> (pinned) as position 0's: a token's row serving as a one-row cache.</summary>
    public static RowReader OneRow(float* row, int rotaryDim) =>
        new(RowKind.InterleavedSingle, rotaryDim, null, null, (byte*)row, null, rotaryDim, 0, null);

    /// <summary>Rotated elements per head.</summary>
    public int RotaryDim => rotaryDim;

    /// <summary>Whether <see cref="Read{TOps, TVector}"/> gives two runs (caller cosines and sines kept apart, one position per token).</summary>
    public bool GivesRuns => kind >= RowKind.RunsSingle && streams is null;

    /// <summary>Whether rows come from a table (the library's own memory: reading a row again costs a load, not a computation, and no caller can change it).</summary>
    public bool ReadsTable => kind == RowKind.Table && streams is null;

    /// <summary>Floats of scratch one token's row needs (0 when rows are read where they lie).</summary>
    public int ScratchLength => streams is null ? OneRowScratch : rotaryDim + 3 * OneRowScratch;

    private int OneRowScratch => kind switch
    {
        RowKind.Table or RowKind.InterleavedSingle => 0,
        RowKind.Computed or RowKind.InterleavedBFloat16 or RowKind.InterleavedHalf or RowKind.RunsSingle => rotaryDim,
        _ => 2 * rotaryDim,
    };

    /// <summary>
    /// The row of <paramref name="position"/>: two runs where <see cref="GivesRuns"/> holds, an interleaved row
    /// otherwise (a reference into stored rows, or written into <paramref name="scratch"/>, <see cref="ScratchLength"/> floats).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowView Read<TOps, TVector>(TokenPosition position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        GivesRuns ? Runs<TOps, TVector>(position.Value, scratch) : new RowView(ref Interleaved<TOps, TVector>(position, scratch));

    /// <summary>The interleaved row of <paramref name="position"/>, whatever the format (runs zipped into scratch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref float Interleaved<TOps, TVector>(TokenPosition position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        // A table's row is a reference into it: the commonest case, inlined into the token loop.
        if (kind == RowKind.Table && streams is null && position.Value >= table!.FirstPosition && position.Value < table.EndPosition)
        {
            return ref table.RowReference((int)position.Value);
        }

        return ref Other<TOps, TVector>(position, scratch);
    }

    /// <summary>The interleaved row of <paramref name="position"/> where it is not a table's row in range.</summary>
    private ref float Other<TOps, TVector>(TokenPosition position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        if (streams is null)
        {
            return ref One<TOps, TVector>(position.Value, scratch);
        }

        // Three streams make one row pair by pair, each stream's row in a scratch row of its own behind the assembled one.
        int each = OneRowScratch;
        Span<float> composite = scratch[..rotaryDim];
        ref float temporalRow = ref One<TOps, TVector>(position.Value, scratch.Slice(rotaryDim, each));
        ref float heightRow = ref One<TOps, TVector>(position.Height, scratch.Slice(rotaryDim + each, each));
        ref float widthRow = ref One<TOps, TVector>(position.Width, scratch.Slice(rotaryDim + 2 * each, each));
        for (int pair = 0; pair < streams.PairCount; pair++)
        {
            int stream = streams.StreamOf(pair);
            ref float row = ref stream == MropeSections.Height ? ref heightRow : ref stream == MropeSections.Width ? ref widthRow : ref temporalRow;
            composite[2 * pair] = Unsafe.Add(ref row, 2 * pair);
            composite[2 * pair + 1] = Unsafe.Add(ref row, 2 * pair + 1);
        }

        return ref composite[0];
    }

    /// <summary>
    /// One position's interleaved row. Positions were validated at the entry but live in caller memory that may change
    /// during the call, so each is checked here, where it indexes rows.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The position has no row (the positions changed during the call).</exception>
    private ref float One<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        switch (kind)
        {
            case RowKind.Table:
                RopeTable rows = table!;
                if (position < rows.FirstPosition || position >= rows.EndPosition)
                {
                    ChangedPositions.ThrowOutside(position, rows.FirstPosition, rows.EndPosition);
                }

                return ref rows.RowReference((int)position);
            case RowKind.Computed:
                if (position is < 0 or > int.MaxValue)
                {
                    ChangedPositions.ThrowOutside(position, 0, (long)int.MaxValue + 1);
                }

                RopeFrequencies computed = frequencies!;
                CosSinRowWriter.WriteRows(computed.Turns, computed.PairCount, computed.AttentionFactor, (int)position, 1, scratch);
                return ref MemoryMarshal.GetReference(scratch);
            case RowKind.InterleavedSingle:
                return ref *(float*)CallerRow<float>(cosines, position);
            case RowKind.InterleavedBFloat16:
                RowValues<TOps, TVector>.Widen((BFloat16*)CallerRow<BFloat16>(cosines, position), rotaryDim, scratch);
                return ref MemoryMarshal.GetReference(scratch);
            case RowKind.InterleavedHalf:
                RowValues<TOps, TVector>.Widen((Half*)CallerRow<Half>(cosines, position), rotaryDim, scratch);
                return ref MemoryMarshal.GetReference(scratch);
            default:
                // The runs as Runs gives them (16-bit values widened behind the row), zipped into the row.
                Span<float> row = scratch[..rotaryDim];
                RowView runs = Runs<TOps, TVector>(position, scratch[rotaryDim..]);
                RowValues<TOps, TVector>.Zip(ref runs.Cosines, ref runs.Sines, rotaryDim / 2, row);
                return ref MemoryMarshal.GetReference(row);
        }
    }

    /// <summary>The cosines and the sines of <paramref name="position"/>'s caller row, read where they lie or widened into scratch.</summary>
    private RowView Runs<TOps, TVector>(long position, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        int pairs = rotaryDim / 2;
        switch (kind)
        {
            case RowKind.RunsSingle:
                return new RowView(ref *(float*)CallerRow<float>(cosines, position), ref *(float*)CallerRow<float>(sines, position));
            case RowKind.RunsBFloat16:
                WidenRuns((BFloat16*)CallerRow<BFloat16>(cosines, position), (BFloat16*)CallerRow<BFloat16>(sines, position), pairs, scratch);
                break;
            default:
                WidenRuns((Half*)CallerRow<Half>(cosines, position), (Half*)CallerRow<Half>(sines, position), pairs, scratch);
                break;
        }

        return new RowView(ref scratch[0], ref scratch[pairs]);

        static void WidenRuns<TValue>(TValue* cosRow, TValue* sinRow, int pairs, Span<float> scratch)
            where TValue : unmanaged
        {
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
        }
    }

    /// <summary>The start of <paramref name="position"/>'s row in a caller span of <typeparamref name="TValue"/>, checked where it is used.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* CallerRow<TValue>(byte* values, long position)
        where TValue : unmanaged
    {
        // position ≤ lastRowStart first (the stride is at least 1), so the product cannot overflow.
        if (position < 0 || position > lastRowStart || position * rowStride > lastRowStart)
        {
            ChangedPositions.ThrowOutside(position, 0, lastRowStart / rowStride + 1);
        }

        return (byte*)((TValue*)values + position * rowStride);
    }

    private static RowKind Kind(RowKind single, RopeRowValue value) => value switch
    {
        RopeRowValue.Single => single,
        RopeRowValue.BFloat16 => single + 1,
        RopeRowValue.Half => single + 2,
        _ => throw new NotSupportedException($"Row value {value} has no reader."),
    };

    private static int ValueSize(RopeRowValue value) => value == RopeRowValue.Single ? sizeof(float) : sizeof(ushort);

    /// <summary>Every kind of row, caller kinds by value type (float32, bfloat16, float16 in that order).</summary>
    private enum RowKind : byte
    {
        Table,
        Computed,
        InterleavedSingle,
        InterleavedBFloat16,
        InterleavedHalf,
        RunsSingle,
        RunsBFloat16,
        RunsHalf,
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
        throw ArgumentErrors.OutOfRange("positions", position,
            $"Position {position} is outside the rows [{first}, {end}); it was inside when the call was validated, so the positions changed while the call ran.");
}
