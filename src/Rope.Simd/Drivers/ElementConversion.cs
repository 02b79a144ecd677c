using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Drivers;

/// <summary>
/// Conversions between float32 and any element type on one instruction set, the element type's codec chosen by type
/// tests that fold away: the span conversions, and the drivers that widen a token's heads into float32 scratch.
/// </summary>
internal static class ElementConversion<TOps, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    /// <summary>float32 values rounded to <typeparamref name="TElement"/> (copied for float32).</summary>
    public static void Narrow<TElement>(ReadOnlySpan<float> source, Span<TElement> destination)
        where TElement : unmanaged
    {
        if (typeof(TElement) == typeof(float))
        {
            source.CopyTo(MemoryMarshal.Cast<TElement, float>(destination));
        }
        else if (typeof(TElement) == typeof(BFloat16))
        {
            ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.Narrow(source, MemoryMarshal.Cast<TElement, BFloat16>(destination));
        }
        else if (typeof(TElement) == typeof(Half))
        {
            ConversionDriver<TOps, TVector, HalfCodec, Half>.Narrow(source, MemoryMarshal.Cast<TElement, Half>(destination));
        }
        else
        {
            ElementKernels.ThrowUnsupported<TElement>();
        }
    }

    /// <summary>
    /// Two registers of float32 values (2·Count elements in order) rounded to <typeparamref name="TElement"/> and stored
    /// at <paramref name="destination"/>, the bits of <see cref="Narrow{TElement}"/> (stored as they are for float32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreNarrowed<TElement>(TVector low, TVector high, ref TElement destination)
        where TElement : unmanaged
    {
        if (typeof(TElement) == typeof(float))
        {
            TOps.Store(low, ref Unsafe.As<TElement, float>(ref destination));
            TOps.Store(high, ref Unsafe.Add(ref Unsafe.As<TElement, float>(ref destination), TOps.Count));
        }
        else if (typeof(TElement) == typeof(BFloat16))
        {
            TOps.Store(ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.NarrowBlock(low, high), ref Unsafe.As<TElement, float>(ref destination));
        }
        else if (typeof(TElement) == typeof(Half))
        {
            TOps.Store(ConversionDriver<TOps, TVector, HalfCodec, Half>.NarrowBlock(low, high), ref Unsafe.As<TElement, float>(ref destination));
        }
        else
        {
            ElementKernels.ThrowUnsupported<TElement>();
        }
    }

    /// <summary><typeparamref name="TElement"/> values widened exactly to float32 (copied for float32).</summary>
    public static void Widen<TElement>(ReadOnlySpan<TElement> source, Span<float> destination)
        where TElement : unmanaged
    {
        if (typeof(TElement) == typeof(float))
        {
            MemoryMarshal.Cast<TElement, float>(source).CopyTo(destination);
        }
        else if (typeof(TElement) == typeof(BFloat16))
        {
            ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.Widen(MemoryMarshal.Cast<TElement, BFloat16>(source), destination);
        }
        else if (typeof(TElement) == typeof(Half))
        {
            ConversionDriver<TOps, TVector, HalfCodec, Half>.Widen(MemoryMarshal.Cast<TElement, Half>(source), destination);
        }
        else
        {
            ElementKernels.ThrowUnsupported<TElement>();
        }
    }

    /// <summary>
    /// The heads of one token of <paramref name="shape"/> (the first at <paramref name="tokenOffset"/>) widened into
    /// <paramref name="packed"/>, <c>[heads][headDim]</c>; heads that lie one after another go as one run.
    /// </summary>
    public static void WidenHeads<TElement>(ReadOnlySpan<TElement> source, nint tokenOffset, RopeShape shape, Span<float> packed)
        where TElement : unmanaged
    {
        int headDim = shape.HeadDim;
        if (shape.Heads == 0)
        {
            // A tensor of no heads spans nothing, whatever its token stride says.
            return;
        }

        if (shape.HeadStride == headDim)
        {
            Widen(source.Slice((int)tokenOffset, packed.Length), packed);
            return;
        }

        for (int head = 0; head < shape.Heads; head++)
        {
            Widen(source.Slice((int)(tokenOffset + (nint)head * shape.HeadStride), headDim), packed.Slice(head * headDim, headDim));
        }
    }

    /// <summary>The reverse of <see cref="WidenHeads"/>: packed float32 heads rounded into one token of <paramref name="shape"/>.</summary>
    public static void NarrowHeads<TElement>(ReadOnlySpan<float> packed, Span<TElement> destination, nint tokenOffset, RopeShape shape)
        where TElement : unmanaged
    {
        int headDim = shape.HeadDim;
        if (shape.Heads == 0)
        {
            return;
        }

        if (shape.HeadStride == headDim)
        {
            Narrow(packed, destination.Slice((int)tokenOffset, packed.Length));
            return;
        }

        for (int head = 0; head < shape.Heads; head++)
        {
            Narrow(packed.Slice(head * headDim, headDim), destination.Slice((int)(tokenOffset + (nint)head * shape.HeadStride), headDim));
        }
    }

    /// <summary>
    /// Elements of one type into another: a copy for the same type, and otherwise through float32 (exact widening,
    /// rounding to nearest even), between the two 16-bit types by way of <paramref name="bridge"/>, a bridge's length at a time.
    /// </summary>
    public static void Convert<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination, Span<float> bridge)
        where TFrom : unmanaged
        where TTo : unmanaged
    {
        if (typeof(TFrom) == typeof(TTo))
        {
            MemoryMarshal.Cast<TFrom, TTo>(source).CopyTo(destination);
        }
        else if (typeof(TFrom) == typeof(float))
        {
            Narrow(MemoryMarshal.Cast<TFrom, float>(source), destination);
        }
        else if (typeof(TTo) == typeof(float))
        {
            Widen(source, MemoryMarshal.Cast<TTo, float>(destination));
        }
        else
        {
            Debug.Assert(!bridge.IsEmpty, "A conversion between two 16-bit types needs a bridge.");
            for (int start = 0; start < source.Length; start += bridge.Length)
            {
                Span<float> widened = bridge[..Math.Min(bridge.Length, source.Length - start)];
                Widen(source.Slice(start, widened.Length), widened);
                Narrow(widened, destination.Slice(start, widened.Length));
            }
        }
    }
}
