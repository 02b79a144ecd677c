using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Positions;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>
/// What every token loop of a call reads: where rows come from, how positions are given, the pair layout and
/// direction, and the tokens to run. Choices that differ per call are values here; only what the block loops need
/// (ISA, kernel, element type, head transform) is a type argument.
/// </summary>
internal readonly struct RotationWork(RowReader rows, PositionReader positions, RopeLayout layout, bool inverse, TokenRange tokens)
{
    // Fields, not properties: the readers are read where they lie (a property would copy them at every use).
    public readonly RowReader Rows = rows;

    public readonly PositionReader Positions = positions;

    public RopeLayout Layout => layout;

    public bool Interleaved => layout == RopeLayout.Interleaved;

    public bool Inverse => inverse;

    public TokenRange Tokens => tokens;

    /// <summary>The same work over other tokens.</summary>
    public RotationWork With(TokenRange range) => new(Rows, Positions, layout, inverse, range);

    /// <summary>One token with <paramref name="row"/> (rotaryDim floats, pinned) as its row: a one-row cache.</summary>
    public static unsafe RotationWork OneRow(float* row, int rotaryDim, RopeLayout layout, bool inverse) =>
        new(RowReader.OneRow(row, rotaryDim), PositionReader.Sequential(0), layout, inverse, TokenRange.Single);

    /// <summary>The row of the token at <paramref name="cursor"/> (one read of its position).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowView Row<TOps, TVector>(TokenCursor cursor, Span<float> scratch)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        Rows.Read<TOps, TVector>(Positions.Read(cursor), scratch);
}
