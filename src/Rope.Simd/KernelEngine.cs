using Rope.Simd.Kernels;
using Rope.Simd.Tables;

namespace Rope.Simd;

/// <summary>
/// A <see cref="RopeEngine"/> bound to one ISA: every element type's rotation goes to
/// <see cref="RotationDriver{TKernel, TElement, TVector}"/> with the matching kernel, every conversion to
/// <see cref="ConversionDriver{TOps, TVector, TCodec, TElement}"/>.
/// </summary>
internal sealed class KernelEngine<TOps, TVector> : RopeEngine
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    public override RopePath Path => TOps.Path;

    internal override bool IsAccelerated => TOps.IsAccelerated;

    internal override void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<float> first, scoped in RotationTarget<float> second) =>
        RotationDriver<SingleKernel<TOps, TVector>, float, TVector>.Rotate(rows, layout, inverse, positions, tokens, first, second);

    internal override void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<BFloat16> first, scoped in RotationTarget<BFloat16> second) =>
        RotationDriver<PackedKernel<TOps, TVector, BFloat16Codec, BFloat16>, BFloat16, TVector>.Rotate(
            rows, layout, inverse, positions, tokens, first, second);

    internal override void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<Half> first, scoped in RotationTarget<Half> second) =>
        RotationDriver<PackedKernel<TOps, TVector, HalfCodec, Half>, Half, TVector>.Rotate(
            rows, layout, inverse, positions, tokens, first, second);

    internal override void Narrow(ReadOnlySpan<float> source, Span<BFloat16> destination) =>
        ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.Narrow(source, destination);

    internal override void Narrow(ReadOnlySpan<float> source, Span<Half> destination) =>
        ConversionDriver<TOps, TVector, HalfCodec, Half>.Narrow(source, destination);

    internal override void Widen(ReadOnlySpan<BFloat16> source, Span<float> destination) =>
        ConversionDriver<TOps, TVector, BFloat16Codec, BFloat16>.Widen(source, destination);

    internal override void Widen(ReadOnlySpan<Half> source, Span<float> destination) =>
        ConversionDriver<TOps, TVector, HalfCodec, Half>.Widen(source, destination);
}
