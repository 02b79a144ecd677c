using System.Runtime.InteropServices;
using Rope.Simd.Drivers;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Validation;

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
        CallChecks.Conversion(source, destination);
        Narrow(source, destination);
    }

    /// <summary>Rounds each float to the nearest float16, ties to even. Same bits as <c>(Half)value</c>.</summary>
    /// <inheritdoc cref="ConvertToBFloat16"/>
    public void ConvertToHalf(ReadOnlySpan<float> source, Span<Half> destination)
    {
        CallChecks.Conversion(source, destination);
        Narrow(source, destination);
    }

    /// <summary>Widens each bfloat16 exactly. Same bits as <c>(float)value</c>.</summary>
    /// <param name="source">bfloat16 values.</param>
    /// <param name="destination">At least as long as the source; must not overlap it. Only the first source.Length elements are written.</param>
    /// <exception cref="ArgumentException">The destination is too short or overlaps the source.</exception>
    public void ConvertToSingle(ReadOnlySpan<BFloat16> source, Span<float> destination)
    {
        CallChecks.Conversion(source, destination);
        Widen(source, destination);
    }

    /// <summary>Widens each float16 exactly (a signaling NaN becomes quiet). Same bits as <c>(float)value</c>.</summary>
    /// <inheritdoc cref="ConvertToSingle(ReadOnlySpan{BFloat16}, Span{float})"/>
    public void ConvertToSingle(ReadOnlySpan<Half> source, Span<float> destination)
    {
        CallChecks.Conversion(source, destination);
        Widen(source, destination);
    }

    private void Narrow<TElement>(ReadOnlySpan<float> source, Span<TElement> destination)
        where TElement : unmanaged
    {
        var work = new Narrowing<TElement>(source, destination);
        IsaPaths.Run(Path, ref work);
    }

    private void Widen<TElement>(ReadOnlySpan<TElement> source, Span<float> destination)
        where TElement : unmanaged
    {
        var work = new Widening<TElement>(source, destination);
        IsaPaths.Run(Path, ref work);
    }

    private readonly ref struct Narrowing<TElement>(ReadOnlySpan<float> source, Span<TElement> destination) : IIsaWork
        where TElement : unmanaged
    {
        private readonly ReadOnlySpan<float> source = source;
        private readonly Span<TElement> destination = destination;

        public void Run<TOps, TVector>()
            where TOps : IVectorOps<TVector>
            where TVector : struct =>
            ElementConversion<TOps, TVector>.Narrow(source, destination);
    }

    private readonly ref struct Widening<TElement>(ReadOnlySpan<TElement> source, Span<float> destination) : IIsaWork
        where TElement : unmanaged
    {
        private readonly ReadOnlySpan<TElement> source = source;
        private readonly Span<float> destination = destination;

        public void Run<TOps, TVector>()
            where TOps : IVectorOps<TVector>
            where TVector : struct =>
            ElementConversion<TOps, TVector>.Widen(source, destination);
    }
}
