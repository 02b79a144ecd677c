using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Rows;
using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// An immutable float32 table of cos/sin rows for the positions [<see cref="FirstPosition"/>,
/// <see cref="EndPosition"/>). Thread-safe: it never changes once built.
/// </summary>
/// <remarks>
/// <para>Row layout, <see cref="RowLength"/> = rotaryDim floats per position p:
/// <c>[cos(p·ω_0), sin(p·ω_0), cos(p·ω_1), sin(p·ω_1), ...]</c>. These are the bytes of the complex64
/// <c>freqs_cis</c> of Meta's LLaMA <c>precompute_freqs_cis</c> (real part cos, imaginary part sin), so a row
/// block can be handed to code that expects that tensor.</para>
/// <para>Accuracy: every entry is within 1 ulp (float32) of the cos or sin of the exact angle p·ω_i, with ω_i
/// the double in <see cref="RopeFrequencies.InverseFrequencies"/>, for every position of the table. The angle
/// is formed and reduced in extended precision rather than in float32, which would be off by about 0.06 rad at
/// p = 10^6.</para>
/// <para>The rows live in one array on the pinned object heap, so their address is stable for native callers
/// (<see cref="Memory"/>.Pin() costs nothing).</para>
/// </remarks>
public sealed class RopeTable
{
    private readonly float[] rows;

    private RopeTable(RopeFrequencies frequencies, int firstPosition, int positionCount, float[] rows)
    {
        Frequencies = frequencies;
        FirstPosition = firstPosition;
        PositionCount = positionCount;
        this.rows = rows;
    }

    /// <summary>The frequencies the rows were computed from.</summary>
    public RopeFrequencies Frequencies { get; }

    /// <summary>Rotated elements per head; also the number of floats per row.</summary>
    public int RotaryDim => Frequencies.RotaryDim;

    /// <summary>Floats per row: cos and sin for each pair, <see cref="RotaryDim"/> in all.</summary>
    public int RowLength => Frequencies.RotaryDim;

    /// <summary>The first position the table covers.</summary>
    public int FirstPosition { get; }

    /// <summary>How many consecutive positions the table covers.</summary>
    public int PositionCount { get; }

    /// <summary>One past the last position covered: <see cref="FirstPosition"/> + <see cref="PositionCount"/>.</summary>
    public long EndPosition => (long)FirstPosition + PositionCount;

    /// <summary>All rows, <see cref="PositionCount"/> × <see cref="RowLength"/> floats, row for FirstPosition first.</summary>
    public ReadOnlySpan<float> Rows => rows;

    /// <summary>The same rows as <see cref="Rows"/>, as memory that can be stored or pinned.</summary>
    public ReadOnlyMemory<float> Memory => rows;

    /// <summary>Builds the table of <paramref name="positionCount"/> positions starting at 0 with standard frequencies.</summary>
    /// <param name="rotaryDim">Rotated elements per head: positive and even.</param>
    /// <param name="positionCount">Positions covered, [0, positionCount): positive.</param>
    /// <param name="base">θ ("rope_theta"); <see cref="RopeFrequencies.DefaultBase"/> unless given.</param>
    public static RopeTable Create(int rotaryDim, int positionCount, double @base = RopeFrequencies.DefaultBase) =>
        Create(RopeFrequencies.Create(rotaryDim, @base), 0, positionCount);

    /// <summary>Builds the table for positions [firstPosition, firstPosition + positionCount).</summary>
    /// <param name="frequencies">The per-pair inverse frequencies.</param>
    /// <param name="firstPosition">First position covered: non-negative.</param>
    /// <param name="positionCount">Positions covered: positive, with firstPosition + positionCount ≤ 2^31.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count or position is out of range.</exception>
    /// <exception cref="ArgumentException">The table would exceed the 2^31 - 1 elements of one array.</exception>
    public static RopeTable Create(RopeFrequencies frequencies, int firstPosition, int positionCount)
    {
        ArgumentNullException.ThrowIfNull(frequencies);
        if (positionCount <= 0)
        {
            throw ArgumentErrors.OutOfRange(nameof(positionCount), positionCount, "A table covers at least one position.");
        }

        long length = CheckedRowsLength(frequencies, firstPosition, positionCount, nameof(positionCount));
        float[] rows = GC.AllocateUninitializedArray<float>((int)length, pinned: true);
        CosSinRowWriter.WriteRows(frequencies.Turns, frequencies.PairCount, frequencies.AttentionFactor, firstPosition, positionCount, rows);
        return new RopeTable(frequencies, firstPosition, positionCount, rows);
    }

    /// <summary>
    /// Writes the rows for positions [firstPosition, firstPosition + positionCount) into caller memory, with the
    /// layout and accuracy of a table's <see cref="Rows"/>. Allocates nothing.
    /// </summary>
    /// <param name="frequencies">The per-pair inverse frequencies.</param>
    /// <param name="firstPosition">First position: non-negative.</param>
    /// <param name="positionCount">Rows to write: non-negative.</param>
    /// <param name="destination">At least positionCount × rotaryDim floats; only that prefix is written.</param>
    public static void Fill(RopeFrequencies frequencies, int firstPosition, int positionCount, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(frequencies);
        Guard.NonNegative(positionCount);
        long length = CheckedRowsLength(frequencies, firstPosition, positionCount, nameof(positionCount));
        Guard.Length(destination.Length, length, nameof(destination));
        CosSinRowWriter.WriteRows(frequencies.Turns, frequencies.PairCount, frequencies.AttentionFactor, firstPosition, positionCount, destination);
    }

    /// <summary>The row of one position, <see cref="RowLength"/> floats.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The position is outside [FirstPosition, EndPosition).</exception>
    public ReadOnlySpan<float> GetRow(int position)
    {
        if (!Contains(position))
        {
            throw PositionOutOfRange(nameof(position), position);
        }

        return new ReadOnlySpan<float>(rows, (position - FirstPosition) * RowLength, RowLength);
    }

    /// <summary>Whether the table has a row for <paramref name="position"/>.</summary>
    public bool Contains(int position) => position >= FirstPosition && position < EndPosition;

    /// <summary>Reference to the first float of a position's row; the caller has checked the position.</summary>
    internal ref float RowReference(int position) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(rows), (nint)(uint)(position - FirstPosition) * RowLength);

    internal ArgumentOutOfRangeException PositionOutOfRange(string parameterName, long position) =>
        ArgumentErrors.OutOfRange(parameterName, position, $"Position {position} is outside the table's range [{FirstPosition}, {EndPosition}).");

    private static long CheckedRowsLength(RopeFrequencies frequencies, int firstPosition, int positionCount, string countName)
    {
        Guard.NonNegative(firstPosition);
        if ((long)firstPosition + positionCount > (long)int.MaxValue + 1)
        {
            throw ArgumentErrors.OutOfRange(countName, positionCount,
                $"Positions must stay below 2^31; the first is {firstPosition}.");
        }

        long length = (long)positionCount * frequencies.RotaryDim;
        if (length > Array.MaxLength)
        {
            throw ArgumentErrors.Invalid(
                $"{positionCount} rows of {frequencies.RotaryDim} floats ({length} elements) exceed the largest array.", countName);
        }

        return length;
    }
}
