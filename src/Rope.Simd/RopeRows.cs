using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// Where a rotation reads each position's cos and sin: a <see cref="RopeTable"/>, rows computed per call from
/// <see cref="RopeFrequencies"/> (both convert implicitly), or a cos/sin cache the caller already holds, in one of the
/// layouts other runtimes keep, in float32, bfloat16 or float16.
/// </summary>
/// <remarks>
/// <para>Caller rows are read where they lie, every call: nothing is copied when they are wrapped, so a cache the
/// runtime updates in place is seen as it is. Position p reads row p of the cache (element p·rowStride of each span),
/// for p in [0, <see cref="PositionCount"/>). The rotation formula is applied to the values given, whatever they are:
/// cos² + sin² need not be 1 and nothing is renormalized; 16-bit values are widened exactly to float32.</para>
/// <para>Tables built by Rope.Simd are the accurate default (every entry within 1 ulp of the exact cos/sin); a cache
/// made elsewhere carries its own errors, e.g. float32 angles at long positions or values rounded to 16 bits.</para>
/// </remarks>
public readonly ref struct RopeRows
{
    internal readonly RopeTable? Table;
    internal readonly RopeFrequencies? Frequencies;
    internal readonly ReadOnlySpan<byte> First, Second;
    internal readonly RopeRowFormat Format;
    internal readonly RopeRowValue Value;
    internal readonly int RowStride;
    // Caller rows: the value index of the last row that fits (rows at p·RowStride, p·RowStride ≤ LastRowStart).
    internal readonly int LastRowStart;
    private readonly int rotaryDim, tablePositionCount;

    private RopeRows(RopeTable table)
    {
        Table = table;
        Frequencies = table.Frequencies;
        rotaryDim = table.RotaryDim;
        tablePositionCount = table.PositionCount;
        Format = RopeRowFormat.Table;
    }

    private RopeRows(RopeFrequencies frequencies)
    {
        Frequencies = frequencies;
        rotaryDim = frequencies.RotaryDim;
        tablePositionCount = int.MaxValue;
        Format = RopeRowFormat.Computed;
    }

    private RopeRows(RopeRowFormat format, RopeRowValue value, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second,
        int rotaryDim, int rowStride, int lastRowStart)
    {
        Format = format;
        Value = value;
        First = first;
        Second = second;
        this.rotaryDim = rotaryDim;
        RowStride = rowStride;
        LastRowStart = lastRowStart;
    }

    /// <summary>The rows of a table: positions [FirstPosition, EndPosition).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="table"/> is null.</exception>
    public static implicit operator RopeRows(RopeTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        return new RopeRows(table);
    }

    /// <summary>
    /// Rows computed per call from the frequencies, once per token for all its heads, with the table builder's arithmetic
    /// (the same bits a table holds), for any position in [0, 2^31).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="frequencies"/> is null.</exception>
    public static implicit operator RopeRows(RopeFrequencies frequencies)
    {
        ArgumentNullException.ThrowIfNull(frequencies);
        return new RopeRows(frequencies);
    }

    /// <summary>Pairs rotated per head, times two: the rotary dim.</summary>
    public int RotaryDim => rotaryDim;

    /// <summary>
    /// Positions with a row: [0, PositionCount) for caller rows; a table's count, from its
    /// <see cref="RopeTable.FirstPosition"/>; 2^31 − 1 for computed rows, which cover [0, 2^31 − 1].
    /// </summary>
    public int PositionCount => Format switch
    {
        RopeRowFormat.Table or RopeRowFormat.Computed => tablePositionCount,
        _ => LastRowStart / RowStride + 1,
    };

    /// <summary>
    /// Caller rows laid out as Rope.Simd's tables and Meta LLaMA's complex <c>freqs_cis</c>: row p holds
    /// <c>[cos_0, sin_0, cos_1, sin_1, ...]</c> (rotaryDim values) at <c>rows[p·rowStride]</c>.
    /// </summary>
    /// <typeparam name="TValue"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">The cache; positions [0, (length − rotaryDim) / rowStride] have rows.</param>
    /// <param name="rotaryDim">Rotated elements per head: positive, even, at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="rowStride">Values from one row to the next: 0 (the default) for rotaryDim, else at least rotaryDim.</param>
    /// <exception cref="ArgumentException">A dimension is out of range, or the span holds no whole row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TValue"/> is not one of the three types.</exception>
    public static RopeRows Interleaved<TValue>(ReadOnlySpan<TValue> rows, int rotaryDim, int rowStride = 0)
        where TValue : unmanaged =>
        Create(RopeRowFormat.Interleaved, rows, rows, rotaryDim, rowStride, rotaryDim, nameof(rows), nameof(rows));

    /// <summary>
    /// Caller rows as vLLM, SGLang and FlashInfer keep their <c>cos_sin_cache</c>: row p holds
    /// <c>[cos_0 .. cos_{n−1} | sin_0 .. sin_{n−1}]</c> (n = rotaryDim/2) at <c>rows[p·rowStride]</c>.
    /// </summary>
    /// <typeparam name="TValue"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">The cache.</param>
    /// <param name="rotaryDim">Rotated elements per head: positive, even, at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="rowStride">Values from one row to the next: 0 (the default) for rotaryDim, else at least rotaryDim.</param>
    /// <exception cref="ArgumentException">A dimension is out of range, or the span holds no whole row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TValue"/> is not one of the three types.</exception>
    public static RopeRows CosThenSin<TValue>(ReadOnlySpan<TValue> rows, int rotaryDim, int rowStride = 0)
        where TValue : unmanaged =>
        Create(RopeRowFormat.CosThenSin, rows, rows, rotaryDim, rowStride, rotaryDim, nameof(rows), nameof(rows));

    /// <summary>
    /// Caller rows as two caches, ONNX RotaryEmbedding's <c>cos_cache</c> and <c>sin_cache</c>
    /// (<c>[positions][rotaryDim/2]</c>): pair i of position p uses <c>cos[p·rowStride + i]</c> and <c>sin[p·rowStride + i]</c>.
    /// </summary>
    /// <typeparam name="TValue"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="cos">The cosines.</param>
    /// <param name="sin">The sines, laid out as the cosines; positions covered by both have rows.</param>
    /// <param name="rotaryDim">Rotated elements per head: positive, even, at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="rowStride">Values from one row to the next: 0 (the default) for rotaryDim/2, else at least rotaryDim/2.</param>
    /// <exception cref="ArgumentException">A dimension is out of range, or a span holds no whole row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TValue"/> is not one of the three types.</exception>
    public static RopeRows Separate<TValue>(ReadOnlySpan<TValue> cos, ReadOnlySpan<TValue> sin, int rotaryDim, int rowStride = 0)
        where TValue : unmanaged =>
        Create(RopeRowFormat.Separate, cos, sin, rotaryDim, rowStride, rotaryDim / 2, nameof(cos), nameof(sin));

    /// <summary>
    /// Caller rows as Hugging Face's rotary modules return them for <c>rotate_half</c>: full-width <c>cos</c> and
    /// <c>sin</c> (<c>[positions][rotaryDim]</c>), each half a copy of the other. Pair i of position p uses
    /// <c>cos[p·rowStride + i]</c> and <c>sin[p·rowStride + i]</c>; the second halves are not read.
    /// </summary>
    /// <typeparam name="TValue"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="cos">The cosines, e.g. one row per token of a call (positions 0, 1, ... then index them).</param>
    /// <param name="sin">The sines, laid out as the cosines.</param>
    /// <param name="rotaryDim">Rotated elements per head: positive, even, at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="rowStride">Values from one row to the next: 0 (the default) for rotaryDim, else at least rotaryDim.</param>
    /// <exception cref="ArgumentException">A dimension is out of range, or a span holds no whole row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TValue"/> is not one of the three types.</exception>
    public static RopeRows Duplicated<TValue>(ReadOnlySpan<TValue> cos, ReadOnlySpan<TValue> sin, int rotaryDim, int rowStride = 0)
        where TValue : unmanaged =>
        Create(RopeRowFormat.Separate, cos, sin, rotaryDim, rowStride == 0 ? rotaryDim : rowStride, rotaryDim, nameof(cos), nameof(sin));

    /// <summary>Whether <paramref name="position"/> has a row.</summary>
    public bool Contains(long position) => Format switch
    {
        RopeRowFormat.Table => position >= Table!.FirstPosition && position < Table.EndPosition,
        RopeRowFormat.Computed => position is >= 0 and <= int.MaxValue,
        _ => position >= 0 && position <= LastRowStart && position * RowStride <= LastRowStart,
    };

    internal bool IsComputed => Format == RopeRowFormat.Computed;

    /// <summary>Whether positions start .. start + count − 1 all have rows (count ≥ 1).</summary>
    internal bool ContainsRange(long start, long count) => Contains(start) && Contains(start + count - 1);

    internal ArgumentOutOfRangeException PositionOutOfRange(string parameterName, long position) =>
        ArgumentErrors.OutOfRange(parameterName, position, $"Position {position} is outside {RangeText}.");

    internal string RangeText => Format switch
    {
        RopeRowFormat.Table => $"the table's range [{Table!.FirstPosition}, {Table.EndPosition})",
        RopeRowFormat.Computed => "[0, 2^31 - 1], the positions rows are computed for",
        _ => $"the caller's rows [0, {PositionCount})",
    };

    private static RopeRows Create<TValue>(RopeRowFormat format, ReadOnlySpan<TValue> first, ReadOnlySpan<TValue> second,
        int rotaryDim, int rowStride, int rowWidth, string firstName, string secondName)
        where TValue : unmanaged
    {
        RopeRowValue value = typeof(TValue) == typeof(float) ? RopeRowValue.Single
            : typeof(TValue) == typeof(BFloat16) ? RopeRowValue.BFloat16
            : typeof(TValue) == typeof(Half) ? RopeRowValue.Half
            : throw new NotSupportedException($"Rows of {typeof(TValue).Name} are not supported: use float, BFloat16 or Half.");
        Guard.RotaryDim(rotaryDim);
        if (rowStride == 0)
        {
            rowStride = rowWidth;
        }
        else if (rowStride < rowWidth)
        {
            throw ArgumentErrors.OutOfRange(nameof(rowStride), rowStride, $"A row holds {rowWidth} values, so the row stride must be at least that (or 0).");
        }

        if (first.Length < rowWidth || second.Length < rowWidth)
        {
            throw ArgumentErrors.Invalid($"The span holds no whole row of {rowWidth} values.", first.Length < rowWidth ? firstName : secondName);
        }

        // No division: a position p has a row when p·rowStride ≤ the start of the last whole row.
        int lastRowStart = Math.Min(first.Length, second.Length) - rowWidth;
        return new RopeRows(format, value, MemoryMarshal.AsBytes(first), MemoryMarshal.AsBytes(second), rotaryDim, rowStride, lastRowStart);
    }
}

/// <summary>How a row source lays out cos and sin.</summary>
internal enum RopeRowFormat : byte
{
    /// <summary>A <see cref="RopeTable"/>.</summary>
    Table,

    /// <summary>Computed per call from <see cref="RopeFrequencies"/>.</summary>
    Computed,

    /// <summary>Caller rows <c>[c0, s0, c1, s1, ...]</c>.</summary>
    Interleaved,

    /// <summary>Caller rows <c>[cos | sin]</c> in one span.</summary>
    CosThenSin,

    /// <summary>Caller cos and sin in two spans, one value per pair (ONNX; Hugging Face's first halves).</summary>
    Separate,
}

/// <summary>The value type of caller rows.</summary>
internal enum RopeRowValue : byte
{
    Single,
    BFloat16,
    Half,
}
