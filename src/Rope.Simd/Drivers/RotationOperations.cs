using Rope.Simd.Kernels;
using Rope.Simd.Positions;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>
/// What a call does to its tokens once rows, positions, threads and the instruction set are chosen: the last type
/// argument of <see cref="Rotation"/>'s path, so each operation compiles to its own loops.
/// </summary>
internal interface IRotationOperation
{
    /// <summary>Tokens [firstToken, endToken) of both targets (counted over all sequences) on the ISA of <typeparamref name="TOps"/>.</summary>
    void Run<TOps, TVector, TElement, TRows, TPositions>(in TRows rows, in TPositions positions, RopeLayout layout, bool inverse,
        int firstToken, int endToken, int tokensPerSequence, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TPositions : struct, IPositionSource;
}

/// <summary>Rotation alone, by the element type's kernel (the type tests fold away): one line per element type.</summary>
internal readonly struct PlainRotation : IRotationOperation
{
    public void Run<TOps, TVector, TElement, TRows, TPositions>(in TRows rows, in TPositions positions, RopeLayout layout, bool inverse,
        int firstToken, int endToken, int tokensPerSequence, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TPositions : struct, IPositionSource
    {
        if (typeof(TElement) == typeof(float))
        {
            RotationDriver<TOps, TVector, SingleKernel<TOps, TVector, FusedWhereAvailable>, float>.Rotate(rows, positions, layout, inverse,
                firstToken, endToken, tokensPerSequence, Rotation.As<TElement, float>(first), Rotation.As<TElement, float>(second));
        }
        else if (typeof(TElement) == typeof(BFloat16))
        {
            RotationDriver<TOps, TVector, PackedKernel<TOps, TVector, BFloat16Codec, BFloat16>, BFloat16>.Rotate(rows, positions, layout, inverse,
                firstToken, endToken, tokensPerSequence, Rotation.As<TElement, BFloat16>(first), Rotation.As<TElement, BFloat16>(second));
        }
        else
        {
            RotationDriver<TOps, TVector, RangedPackedKernel<TOps, TVector, HalfCodec, Half>, Half>.Rotate(rows, positions, layout, inverse,
                firstToken, endToken, tokensPerSequence, Rotation.As<TElement, Half>(first), Rotation.As<TElement, Half>(second));
        }
    }
}
