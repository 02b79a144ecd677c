using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Rope.Simd.Drivers;
using Rope.Simd.Kernels;

namespace Rope.Simd;

// Span conversions between float32 and the 16-bit element types, on this engine's path.
public sealed partial class RopeEngine
{
    /// <summary>Rounds each float to the nearest bfloat16, ties to even; NaN stays a quiet NaN. Same bits as <c>(BFloat16)value</c>.</summary>
    /// <param name="source">float32 values.</param>
    /// <param name="destination">At least as long as the source; must not overlap it. Only the first source.Length elements are written.</param>
    /// <exception cref="ArgumentException">The destination is too short or overlaps the source.</exception>
    public void ConvertToBFloat16(ReadOnlySpan<float> source, Span<BFloat16> destination)
    {
        ValidateConversion(source, destination);
        Narrow(source, destination);
    }

    /// <summary>Rounds each float to the nearest float16, ties to even. Same bits as <c>(Half)value</c>.</summary>
    /// <inheritdoc cref="ConvertToBFloat16"/>
    public void ConvertToHalf(ReadOnlySpan<float> source, Span<Half> destination)
    {
        ValidateConversion(source, destination);
        Narrow(source, destination);
    }

    /// <summary>Widens each bfloat16 exactly. Same bits as <c>(float)value</c>.</summary>
    /// <param name="source">bfloat16 values.</param>
    /// <param name="destination">At least as long as the source; must not overlap it. Only the first source.Length elements are written.</param>
    /// <exception cref="ArgumentException">The destination is too short or overlaps the source.</exception>
    public void ConvertToSingle(ReadOnlySpan<BFloat16> source, Span<float> destination)
    {
        ValidateConversion(source, destination);
        Widen(source, destination);
    }

    /// <summary>Widens each float16 exactly (a signaling NaN becomes quiet). Same bits as <c>(float)value</c>.</summary>
    /// <inheritdoc cref="ConvertToSingle(ReadOnlySpan{BFloat16}, Span{float})"/>
    public void ConvertToSingle(ReadOnlySpan<Half> source, Span<float> destination)
    {
        ValidateConversion(source, destination);
        Widen(source, destination);
    }

    private void Narrow<TElement>(ReadOnlySpan<float> source, Span<TElement> destination)
        where TElement : unmanaged
    {
        switch (Path)
        {
            case RopePath.Vector512:
                OnIsa<Vector512Ops, Vector512<float>>.Narrow(source, destination);
                break;
            case RopePath.Vector256:
                OnIsa<Vector256Ops, Vector256<float>>.Narrow(source, destination);
                break;
            case RopePath.Vector128:
                OnIsa<Vector128Ops, Vector128<float>>.Narrow(source, destination);
                break;
            default:
                OnIsa<ScalarOps, LanePair>.Narrow(source, destination);
                break;
        }
    }

    private void Widen<TElement>(ReadOnlySpan<TElement> source, Span<float> destination)
        where TElement : unmanaged
    {
        switch (Path)
        {
            case RopePath.Vector512:
                OnIsa<Vector512Ops, Vector512<float>>.Widen(source, destination);
                break;
            case RopePath.Vector256:
                OnIsa<Vector256Ops, Vector256<float>>.Widen(source, destination);
                break;
            case RopePath.Vector128:
                OnIsa<Vector128Ops, Vector128<float>>.Widen(source, destination);
                break;
            default:
                OnIsa<ScalarOps, LanePair>.Widen(source, destination);
                break;
        }
    }

    /// <summary>The element type's codec on one instruction set (the type tests fold away): one line per 16-bit type.</summary>
    private static class OnIsa<TOps, TVector>
        where TOps : IVectorOps<TVector>
        where TVector : struct
    {
        public static void Narrow<TElement>(ReadOnlySpan<float> source, Span<TElement> destination)
            where TElement : unmanaged
        {
            if (typeof(TElement) == typeof(BFloat16))
            {
                ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.Narrow(source, MemoryMarshal.Cast<TElement, BFloat16>(destination));
            }
            else
            {
                ConversionDriver<TOps, TVector, HalfCodec, Half>.Narrow(source, MemoryMarshal.Cast<TElement, Half>(destination));
            }
        }

        public static void Widen<TElement>(ReadOnlySpan<TElement> source, Span<float> destination)
            where TElement : unmanaged
        {
            if (typeof(TElement) == typeof(BFloat16))
            {
                ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.Widen(MemoryMarshal.Cast<TElement, BFloat16>(source), destination);
            }
            else
            {
                ConversionDriver<TOps, TVector, HalfCodec, Half>.Widen(MemoryMarshal.Cast<TElement, Half>(source), destination);
            }
        }
    }

    private static void ValidateConversion<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination)
        where TFrom : unmanaged
        where TTo : unmanaged
    {
        Guard.Length(destination.Length, source.Length, nameof(destination));
        if (System.Runtime.InteropServices.MemoryMarshal.AsBytes(source).Overlaps(System.Runtime.InteropServices.MemoryMarshal.AsBytes((ReadOnlySpan<TTo>)destination)))
        {
            throw new ArgumentException("The destination overlaps the source; convert into separate memory.", nameof(destination));
        }
    }
}
