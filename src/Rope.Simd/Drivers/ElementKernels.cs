using System.Diagnostics.CodeAnalysis;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Drivers;

/// <summary>
/// The one place an element type picks its rotation kernel (and, in <see cref="ElementConversion{TOps, TVector}"/>,
/// its codec): float32 fuses products where the ISA has FMA, bfloat16 and float16 rotate widened registers and round
/// once. The type tests fold away per instantiation; any other type is refused.
/// </summary>
internal static class ElementKernels
{
    /// <summary>Rotates <paramref name="work"/>'s tokens of both targets with <typeparamref name="TElement"/>'s kernel.</summary>
    public static void Rotate<TOps, TVector, TElement>(in RotationWork work, scoped in RotationTarget<TElement> first,
        scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        if (typeof(TElement) == typeof(float))
        {
            RotationDriver<TOps, TVector, SingleKernel<TOps, TVector, FusedWhereAvailable>, float>.Rotate(work, Rotation.As<TElement, float>(first),
                Rotation.As<TElement, float>(second));
        }
        else if (typeof(TElement) == typeof(BFloat16))
        {
            RotationDriver<TOps, TVector, PackedKernel<TOps, TVector, BFloat16Codec, BFloat16>, BFloat16>.Rotate(work,
                Rotation.As<TElement, BFloat16>(first), Rotation.As<TElement, BFloat16>(second));
        }
        else if (typeof(TElement) == typeof(Half))
        {
            RotationDriver<TOps, TVector, RangedPackedKernel<TOps, TVector, HalfCodec, Half>, Half>.Rotate(work,
                Rotation.As<TElement, Half>(first), Rotation.As<TElement, Half>(second));
        }
        else
        {
            ThrowUnsupported<TElement>();
        }
    }

    /// <summary>The refusal at the end of every element-type dispatch (the entry's check makes it unreachable from public API).</summary>
    [DoesNotReturn]
    public static void ThrowUnsupported<TElement>() =>
        throw new NotSupportedException($"Elements of {typeof(TElement).Name} are not supported: use float, BFloat16 or Half.");
}
