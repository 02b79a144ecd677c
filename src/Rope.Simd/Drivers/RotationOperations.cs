using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Drivers;

/// <summary>
/// What a call does to its tokens once threads and the instruction set are chosen: the last type argument of
/// <see cref="Rotation"/>'s path, so each operation compiles to its own loops.
/// </summary>
internal interface IRotationOperation
{
    /// <summary>The tokens of <paramref name="work"/> of both targets on the ISA of <typeparamref name="TOps"/>.</summary>
    void Run<TOps, TVector, TElement>(in RotationWork work, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged;
}

/// <summary>Rotation alone, by the element type's kernel (<see cref="ElementKernels"/>).</summary>
internal readonly struct PlainRotation : IRotationOperation
{
    public void Run<TOps, TVector, TElement>(in RotationWork work, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged =>
        ElementKernels.Rotate<TOps, TVector, TElement>(work, first, second);
}
