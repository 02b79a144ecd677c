using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels;

namespace Rope.Simd.Drivers;

/// <summary>
/// What the register-resident rotation does to a head's blocks before rotating them, so a per-head transform and the
/// rotation are one pass: nothing (<see cref="PlainHeads{TVector}"/>), or QK norm (<see cref="NormalizedHeads{TOps, TVector}"/>).
/// The first and second target are numbered 0 and 1.
/// </summary>
internal interface IHeadTransform<TVector>
    where TVector : struct
{
    /// <summary>Whether there is a transform at all; false folds every hook away.</summary>
    static abstract bool Transforms { get; }

    /// <summary>Before a token's heads are rotated.</summary>
    void BeginToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token)
        where TElement : unmanaged;

    /// <summary>The register every block of one head is transformed with.</summary>
    TVector Factor(int target, int head);

    /// <summary>The block at element <paramref name="offset"/> of a head, transformed.</summary>
    TVector Apply(TVector block, TVector factor, int target, nuint offset);

    /// <summary>After a token's heads are rotated: what lies past the rotary dim.</summary>
    void EndToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token, int rotaryDim)
        where TElement : unmanaged;
}

/// <summary>Rotation alone.</summary>
internal readonly struct PlainHeads<TVector> : IHeadTransform<TVector>
    where TVector : struct
{
    public static bool Transforms => false;

    public void BeginToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token)
        where TElement : unmanaged
    {
    }

    public TVector Factor(int target, int head) => default;

    public TVector Apply(TVector block, TVector factor, int target, nuint offset) => block;

    public void EndToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token, int rotaryDim)
        where TElement : unmanaged
    {
    }
}

/// <summary>
/// QK norm of float32 heads: per token every head's scale first (<see cref="RmsNorm{TOps, TVector}"/>), then each
/// block becomes (x·scale)·w' as it is loaded for rotation, w' the effective weights (w, 1 + w rounded, or 1: the
/// product with 1 is exact, so every kind is the one formula); elements past the rotary dim are normalized after.
/// A target without a norm has scale 1 and weights 1, which leave its values as they are.
/// </summary>
internal readonly unsafe struct NormalizedHeads<TOps, TVector>(float* scales, int firstHeads, float* firstWeights, float* secondWeights,
    float firstEpsilon, float secondEpsilon, bool firstNormalizes, bool secondNormalizes) : IHeadTransform<TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    public static bool Transforms => true;

    public void BeginToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token)
        where TElement : unmanaged
    {
        Scales(Rotation.As<TElement, float>(first), sequence, token, firstNormalizes, firstEpsilon, scales);
        Scales(Rotation.As<TElement, float>(second), sequence, token, secondNormalizes, secondEpsilon, scales + firstHeads);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVector Factor(int target, int head) =>
        TOps.Broadcast(BitConverter.SingleToUInt32Bits(scales[target == 0 ? head : firstHeads + head]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVector Apply(TVector block, TVector factor, int target, nuint offset) =>
        TOps.Multiply(TOps.Multiply(block, factor), TOps.Load(ref Unsafe.AsRef<float>((target == 0 ? firstWeights : secondWeights) + offset)));

    public void EndToken<TElement>(scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, int sequence, int token, int rotaryDim)
        where TElement : unmanaged
    {
        PassThrough(Rotation.As<TElement, float>(first), sequence, token, rotaryDim, firstWeights, scales);
        PassThrough(Rotation.As<TElement, float>(second), sequence, token, rotaryDim, secondWeights, scales + firstHeads);
    }

    private static void Scales(scoped in RotationTarget<float> target, int sequence, int token, bool normalizes, float epsilon, float* scales)
    {
        RopeShape shape = target.Shape;
        var heads = new Span<float>(scales, shape.Heads);
        if (!normalizes)
        {
            heads.Fill(1f);
            return;
        }

        ref float values = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), (nint)sequence * shape.BatchStride + (nint)token * shape.TokenStride);
        for (int head = 0; head < shape.Heads; head++)
        {
            heads[head] = RmsNorm<TOps, TVector>.SumOfSquares(ref Unsafe.Add(ref values, (nint)head * shape.HeadStride), shape.HeadDim);
        }

        RmsNorm<TOps, TVector>.InverseRoots(heads, shape.HeadDim, epsilon);
    }

    private static void PassThrough(scoped in RotationTarget<float> target, int sequence, int token, int rotaryDim, float* weights, float* scales)
    {
        RopeShape shape = target.Shape;
        int length = shape.HeadDim - rotaryDim;
        if (length <= 0)
        {
            return;
        }

        nint tokenOffset = (nint)sequence * shape.BatchStride + (nint)token * shape.TokenStride + rotaryDim;
        ref float source = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Source), tokenOffset);
        ref float destination = ref Unsafe.Add(ref MemoryMarshal.GetReference(target.Destination), tokenOffset);
        for (int head = 0; head < shape.Heads; head++)
        {
            nint offset = (nint)head * shape.HeadStride;
            RmsNorm<TOps, TVector>.Scale<TimesWeight>(ref Unsafe.Add(ref source, offset), ref Unsafe.Add(ref destination, offset), length, scales[head],
                ref Unsafe.AsRef<float>(weights + rotaryDim));
        }
    }
}
