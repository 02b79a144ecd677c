using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Kernels.Norm;

namespace Rope.Simd.Drivers;

/// <summary>
/// How the register-resident rotation rotates the blocks of a head, so a per-head transform and the rotation are one
/// pass: the blocks as they are (<see cref="PlainHeads{TVector}"/>), or normalized as they are loaded
/// (<see cref="NormalizedHeads{TOps, TVector}"/>). The first and second target are numbered 0 and 1.
/// </summary>
internal interface IHeadTransform<TVector>
    where TVector : struct
{
    /// <summary>Before a token's heads are rotated.</summary>
    void BeginToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token)
        where TElement : unmanaged;

    /// <summary>The register every block of one head is multiplied by.</summary>
    TVector Factor(int target, int head);

    /// <summary>The weights of the group of blocks that starts at element <paramref name="group"/> of a head.</summary>
    ref float Weights(int target, nuint group);

    /// <summary>Rotates the interleaved block at element <paramref name="offset"/> of the group.</summary>
    void Interleaved<TKernel, TElement>(ref TElement from, ref TElement to, nuint offset, TVector cos, TVector sin, TVector factor, ref float weights)
        where TKernel : IRotationKernel<TElement, TVector>
        where TElement : unmanaged;

    /// <summary>Rotates the half-split block at <paramref name="offset"/> with its partner <paramref name="half"/> elements on.</summary>
    void HalfSplit<TKernel, TElement>(ref TElement from, ref TElement to, nuint offset, nuint half, TVector cos, TVector sin, TVector factor,
        ref float weights)
        where TKernel : IRotationKernel<TElement, TVector>
        where TElement : unmanaged;

    /// <summary>After a token's heads are rotated: what lies past the rotary dim.</summary>
    void EndToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token, int rotaryDim)
        where TElement : unmanaged;
}

/// <summary>Rotation alone.</summary>
internal readonly struct PlainHeads<TVector> : IHeadTransform<TVector>
    where TVector : struct
{
    public void BeginToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token)
        where TElement : unmanaged
    {
    }

    public TVector Factor(int target, int head) => default;

    public ref float Weights(int target, nuint group) => ref Unsafe.NullRef<float>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Interleaved<TKernel, TElement>(ref TElement from, ref TElement to, nuint offset, TVector cos, TVector sin, TVector factor, ref float weights)
        where TKernel : IRotationKernel<TElement, TVector>
        where TElement : unmanaged =>
        TKernel.Store(TKernel.RotateInterleaved(TKernel.Load(ref Unsafe.Add(ref from, offset)), cos, sin), ref Unsafe.Add(ref to, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void HalfSplit<TKernel, TElement>(ref TElement from, ref TElement to, nuint offset, nuint half, TVector cos, TVector sin, TVector factor,
        ref float weights)
        where TKernel : IRotationKernel<TElement, TVector>
        where TElement : unmanaged
    {
        TVector first = TKernel.Load(ref Unsafe.Add(ref from, offset)), second = TKernel.Load(ref Unsafe.Add(ref from, half + offset));
        TKernel.RotateHalfSplit(ref first, ref second, cos, sin);
        TKernel.Store(first, ref Unsafe.Add(ref to, offset));
        TKernel.Store(second, ref Unsafe.Add(ref to, half + offset));
    }

    public void EndToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token, int rotaryDim)
        where TElement : unmanaged
    {
    }
}

/// <summary>
/// QK norm of float32 heads, in place: per token every head's scale first (<see cref="RmsNorm{TOps, TVector}"/>), then
/// each block becomes (x·scale)·w' as it is loaded for rotation, w' the effective weights (w, 1 + w
/// rounded, or 1: the product with 1 is exact, so every kind is the one formula); elements past the rotary dim are
/// normalized after the token. A target without a norm has scale 1 and weights 1, which leave its values as they are.
/// </summary>
internal readonly unsafe struct NormalizedHeads<TOps, TVector>(float* scales, int firstHeads, float* firstWeights, float* secondWeights,
    float firstEpsilon, float secondEpsilon, bool firstNormalizes, bool secondNormalizes) : IHeadTransform<TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    public void BeginToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token)
        where TElement : unmanaged
    {
        Scales(Rotation.As<TElement, float>(first), sequence, token, firstNormalizes, firstEpsilon, scales);
        Scales(Rotation.As<TElement, float>(second), sequence, token, secondNormalizes, secondEpsilon, scales + firstHeads);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVector Factor(int target, int head) => TOps.Broadcast(BitConverter.SingleToUInt32Bits(target == 0 ? scales[head] : scales[firstHeads + head]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref float Weights(int target, nuint group) => ref Unsafe.AsRef<float>((target == 0 ? firstWeights : secondWeights) + group);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Interleaved<TKernel, TElement>(ref TElement from, ref TElement to, nuint offset, TVector cos, TVector sin, TVector factor, ref float weights)
        where TKernel : IRotationKernel<TElement, TVector>
        where TElement : unmanaged
    {
        TVector values = Normalized(TKernel.Load(ref Unsafe.Add(ref from, offset)), factor, ref Unsafe.Add(ref weights, offset));
        TKernel.Store(TKernel.RotateInterleaved(values, cos, sin), ref Unsafe.Add(ref to, offset));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void HalfSplit<TKernel, TElement>(ref TElement from, ref TElement to, nuint offset, nuint half, TVector cos, TVector sin, TVector factor,
        ref float weights)
        where TKernel : IRotationKernel<TElement, TVector>
        where TElement : unmanaged
    {
        TVector first = Normalized(TKernel.Load(ref Unsafe.Add(ref from, offset)), factor, ref Unsafe.Add(ref weights, offset));
        TVector second = Normalized(TKernel.Load(ref Unsafe.Add(ref from, half + offset)), factor, ref Unsafe.Add(ref weights, half + offset));
        TKernel.RotateHalfSplit(ref first, ref second, cos, sin);
        TKernel.Store(first, ref Unsafe.Add(ref to, offset));
        TKernel.Store(second, ref Unsafe.Add(ref to, half + offset));
    }

    /// <summary>(x·scale)·w' of one block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Normalized(TVector block, TVector factor, ref float weights) => TOps.Multiply(TOps.Multiply(block, factor), TOps.Load(ref weights));

    public void EndToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token, int rotaryDim)
        where TElement : unmanaged
    {
        PassThrough(Rotation.As<TElement, float>(first), sequence, token, rotaryDim, firstWeights, scales);
        PassThrough(Rotation.As<TElement, float>(second), sequence, token, rotaryDim, secondWeights, scales + firstHeads);
    }

    private static void Scales(scoped in RotationTarget<float> target, int sequence, int token, bool normalizes, float epsilon, float* scales)
    {
        RopeShape shape = target.Shape;
        NormalizedRotationDriver<TOps, TVector>.Scales(target.Source, shape.TokenOffset(sequence, token), shape,
            normalizes, epsilon, new Span<float>(scales, shape.Heads));
    }

    private static void PassThrough(scoped in RotationTarget<float> target, int sequence, int token, int rotaryDim, float* weights, float* scales)
    {
        RopeShape shape = target.Shape;
        int length = shape.HeadDim - rotaryDim;
        if (length <= 0)
        {
            return;
        }

        ref float source = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), target.SourceOffset(sequence, token) + rotaryDim);
        ref float destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Destination), target.DestinationOffset(sequence, token) + rotaryDim);
        for (int head = 0; head < shape.Heads; head++)
        {
            nint offset = (nint)head * shape.HeadStride;
            RmsNorm<TOps, TVector>.Scale<TimesWeight>(ref Unsafe.Add(ref source, offset), ref Unsafe.Add(ref destination, offset), length, scales[head],
                ref Unsafe.AsRef<float>(weights + rotaryDim));
        }
    }
}
