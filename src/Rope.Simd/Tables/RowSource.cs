using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd.Tables;

/// <summary>
/// Where rotation reads a position's cos/sin row from: a prebuilt <see cref="RopeTable"/>, or the frequencies, with
/// the row computed on the fly by <see cref="CosSinRowWriter"/> (the same bits the table builder writes).
/// </summary>
internal readonly struct RowSource
{
    private readonly RopeTable? table;

    public RowSource(RopeTable table)
    {
        this.table = table;
        Frequencies = table.Frequencies;
    }

    public RowSource(RopeFrequencies frequencies)
    {
        Frequencies = frequencies;
    }

    public RopeFrequencies Frequencies { get; }

    public int RotaryDim => Frequencies.RotaryDim;

    /// <summary>Whether rows are computed per call, so the driver needs <see cref="RotaryDim"/> floats of scratch per row.</summary>
    public bool IsComputed => table is null;

    /// <summary>Whether a row exists for <paramref name="position"/>: inside the table, or any non-negative position.</summary>
    public bool Contains(int position) => table?.Contains(position) ?? position >= 0;

    public ArgumentOutOfRangeException PositionOutOfRange(string parameterName, long position) =>
        new(parameterName, position, $"Position {position} is outside {RangeText}.");

    private string RangeText =>
        table is null ? "[0, 2^31 - 1], the positions rows are computed for" : $"the table's range [{table.FirstPosition}, {table.EndPosition})";

    /// <summary>Whether positions start..start+count-1 all have rows (count ≥ 1).</summary>
    public bool ContainsRange(int start, int count) =>
        table is null ? start >= 0 && (long)start + count <= (long)int.MaxValue + 1 : table.Contains(start) && (long)start + count <= table.EndPosition;

    /// <summary>
    /// The row of a position: a reference into the table, or the row computed into <paramref name="scratch"/> (at
    /// least <see cref="RotaryDim"/> floats).
    /// </summary>
    /// <remarks>
    /// Positions were validated at the entry, but they live in caller memory that another thread may change while the
    /// call runs, so the position that indexes the table is checked here, where it is used (one compare per token).
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The position has no row (positions changed during the call).</exception>
    public ref float Row(int position, Span<float> scratch)
    {
        if (table is not null)
        {
            if (!table.Contains(position))
            {
                ThrowChangedPosition(position);
            }

            return ref table.RowReference(position);
        }

        if (position < 0)
        {
            ThrowChangedPosition(position);
        }

        RopeFrequencies frequencies = Frequencies;
        CosSinRowWriter.WriteRows(frequencies.Turns, frequencies.PairCount, frequencies.AttentionFactor, position, 1, scratch);
        return ref MemoryMarshal.GetReference(scratch);
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowChangedPosition(int position) =>
        throw new ArgumentOutOfRangeException("positions", position,
            $"Position {position} is outside {RangeText}; it was inside when the call was validated, so the positions changed while the call ran.");
}
