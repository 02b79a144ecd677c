using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Kernels.Norm;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>A <see cref="RopeHeadNorm"/> pinned for the call: the weights' address (null without weights), ε and the kind.</summary>
internal readonly unsafe struct PinnedHeadNorm(float* weights, float epsilon, RopeHeadNormKind kind)
{
    public float* Weights => weights;

    public float Epsilon => epsilon;

    public RopeHeadNormKind Kind => kind;
}

/// <summary>QK norm then rotation, in place: each target's heads get their own norm.</summary>
internal readonly struct NormalizedRotation(PinnedHeadNorm firstNorm, PinnedHeadNorm secondNorm) : IRotationOperation
{
    public void Run<TOps, TVector, TElement>(in RotationWork work, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second)
        where TOps : IVectorOps<TVector>
        where TVector : struct
        where TElement : unmanaged
    {
        if (typeof(TElement) == typeof(float))
        {
            NormalizedRotationDriver<TOps, TVector>.Single(work, Rotation.As<TElement, float>(first), Rotation.As<TElement, float>(second), firstNorm, secondNorm);
        }
        else
        {
            NormalizedRotationDriver<TOps, TVector>.Widened(work, first, second, firstNorm, secondNorm);
        }
    }
}

/// <summary>
/// The token loop of QK norm + rotation. Per token, every head's scale is computed first (each is a chain of dependent
/// operations: computed together they overlap), then every head is normalized and the token rotated while its heads
/// are still in the L1 cache: one pass over the activations in memory.
/// </summary>
/// <remarks>
/// Where the rotated span is whole register blocks, each block is normalized as the register-resident rotation loads
/// it (<see cref="NormalizedHeads{TOps, TVector}"/>); elsewhere the heads are normalized, then rotated.
/// float32 heads are normalized in place and rotated by the float32 kernel (products fused where the ISA has FMA),
/// so the result is the normalized values rotated exactly as <see cref="RopeEngine.Apply{TElement}(RopeRows, Span{TElement}, RopeShape, RopePositions, RopeLayout, bool)"/>
/// rotates them. 16-bit heads are widened exactly into float32 scratch, normalized and rotated there with products
/// and sums each rounded (the same bits on every path), and rounded once into the destination.
/// </remarks>
internal static unsafe class NormalizedRotationDriver<TOps, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    [SkipLocalsInit]
    public static void Single(in RotationWork work, scoped in RotationTarget<float> first, scoped in RotationTarget<float> second,
        in PinnedHeadNorm firstNorm, in PinnedHeadNorm secondNorm)
    {
        TokenRange tokens = work.Tokens;
        int firstHeads = first.Shape.Heads, heads = firstHeads + second.Shape.Heads;
        if (heads == 0 || tokens.IsEmpty)
        {
            return;
        }

        if (Resident<FusedWhereAvailable>(work, first, second, firstNorm, secondNorm))
        {
            return;
        }

        float[]? rented = null;
        Span<float> scales = heads <= Scratch.StackLimit ? stackalloc float[heads] : (rented = ArrayPool<float>.Shared.Rent(heads));
        for (TokenCursor cursor = tokens.Start(); cursor.Index < tokens.End; cursor.Next())
        {
            NormalizeThenRotate<FusedWhereAvailable>(work.With(tokens with { First = cursor.Index, End = cursor.Index + 1 }),
                first, first.Shape.TokenOffset(cursor.Sequence, cursor.Token), second, second.Shape.TokenOffset(cursor.Sequence, cursor.Token),
                firstNorm, secondNorm, scales);
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    [SkipLocalsInit]
    public static void Widened<TElement>(in RotationWork work, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second,
        in PinnedHeadNorm firstNorm, in PinnedHeadNorm secondNorm)
        where TElement : unmanaged
    {
        TokenRange tokens = work.Tokens;
        RopeShape firstShape = first.Shape, secondShape = second.Shape;
        int firstHeads = firstShape.Heads, heads = firstHeads + secondShape.Heads;
        if (heads == 0 || tokens.IsEmpty)
        {
            return;
        }

        ref readonly RowReader rows = ref work.Rows;
        int rotaryDim = rows.RotaryDim;
        int firstLength = firstHeads * firstShape.HeadDim, secondLength = secondShape.Heads * secondShape.HeadDim;
        int rowLength = rows.ScratchLength;
        int length = firstLength + secondLength + heads + rowLength;
        float[]? rented = null;
        Span<float> scratch = length <= Scratch.StackLimit
            ? Scratch.AlignToCacheLine(stackalloc float[length + Scratch.CacheLineFloats], length)
            : (rented = ArrayPool<float>.Shared.Rent(length));
        // Pinned: the token's row may be written here, and the rotation reads it through a pointer.
        fixed (float* pinned = scratch)
        {
            Span<float> firstValues = scratch[..firstLength], secondValues = scratch.Slice(firstLength, secondLength);
            Span<float> scales = scratch.Slice(firstLength + secondLength, heads);
            Span<float> rowScratch = scratch.Slice(firstLength + secondLength + heads, rowLength);
            RopeShape firstPacked = Packed(firstShape), secondPacked = Packed(secondShape);
            var firstScratch = new RotationTarget<float>(firstValues, firstValues, firstPacked);
            var secondScratch = new RotationTarget<float>(secondValues, secondValues, secondPacked);
            for (TokenCursor cursor = tokens.Start(); cursor.Index < tokens.End; cursor.Next())
            {
                nint firstOffset = firstShape.TokenOffset(cursor.Sequence, cursor.Token), secondOffset = secondShape.TokenOffset(cursor.Sequence, cursor.Token);
                ElementConversion<TOps, TVector>.WidenHeads(first.Source, firstOffset, firstShape, firstValues);
                ElementConversion<TOps, TVector>.WidenHeads(second.Source, secondOffset, secondShape, secondValues);

                // The token's row, as a one-row cache of its own, rotates the scratch heads.
                ref float row = ref rows.Interleaved<TOps, TVector>(work.Positions.Read(cursor), rowScratch);
                var tokenRow = RotationWork.OneRow((float*)Unsafe.AsPointer(ref row), rotaryDim, work.Layout, work.Inverse);
                if (!Resident<RoundedTwice>(tokenRow, firstScratch, secondScratch, firstNorm, secondNorm))
                {
                    NormalizeThenRotate<RoundedTwice>(tokenRow, firstScratch, 0, secondScratch, 0, firstNorm, secondNorm, scales);
                }

                ElementConversion<TOps, TVector>.NarrowHeads(firstValues, first.Destination, first.DestinationOffset(cursor.Sequence, cursor.Token), firstShape);
                ElementConversion<TOps, TVector>.NarrowHeads(secondValues, second.Destination, second.DestinationOffset(cursor.Sequence, cursor.Token), secondShape);
            }
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// One token of one tensor, <paramref name="target"/>'s heads packed one after another, normalized and rotated
    /// from its source into its destination (which may be apart) with <typeparamref name="TProducts"/>, the token's
    /// row as a one-row cache (<paramref name="tokenRow"/>).
    /// </summary>
    public static void Token<TProducts>(in RotationWork tokenRow, scoped in RotationTarget<float> target, in PinnedHeadNorm norm, Span<float> scales)
        where TProducts : IProductSum
    {
        if (Resident<TProducts>(tokenRow, target, default, norm, default))
        {
            return;
        }

        NormalizeThenRotate<TProducts>(tokenRow, target, 0, default, 0, norm, default, scales);
    }

    /// <summary>
    /// Where the rotated span is whole register blocks: the norm applied to each block as the register-resident
    /// rotation loads it, one pass over the token's heads after their scales (false: the span does not fit).
    /// </summary>
    [SkipLocalsInit]
    private static bool Resident<TProducts>(in RotationWork work, scoped in RotationTarget<float> first, scoped in RotationTarget<float> second,
        in PinnedHeadNorm firstNorm, in PinnedHeadNorm secondNorm)
        where TProducts : IProductSum
    {
        bool interleaved = work.Interleaved;
        int rotaryDim = work.Rows.RotaryDim;
        if (!ResidentRotation<TOps, TVector, SingleKernel<TOps, TVector, TProducts>, float>.Fits(interleaved ? rotaryDim : rotaryDim / 2, interleaved))
        {
            return false;
        }

        int firstHeads = first.Shape.Heads, heads = firstHeads + second.Shape.Heads;
        int firstDim = first.Shape.HeadDim, secondDim = second.Shape.HeadDim;
        int length = heads + firstDim + secondDim;
        float[]? rented = null;
        Span<float> scratch = length <= Scratch.StackLimit ? stackalloc float[length] : (rented = ArrayPool<float>.Shared.Rent(length));
        fixed (float* pinned = scratch)
        {
            float* firstWeights = EffectiveWeights(firstNorm, firstDim, pinned + heads);
            float* secondWeights = EffectiveWeights(secondNorm, secondDim, pinned + heads + firstDim);
            var transform = new NormalizedHeads<TOps, TVector>(pinned, firstHeads, firstWeights, secondWeights, firstNorm.Epsilon, secondNorm.Epsilon,
                firstNorm.Kind != RopeHeadNormKind.None, secondNorm.Kind != RopeHeadNormKind.None);
            if (interleaved)
            {
                ResidentRotation<TOps, TVector, SingleKernel<TOps, TVector, TProducts>, float>.RotateRows<InterleavedPairs, NormalizedHeads<TOps, TVector>>(
                    work, first, second, transform);
            }
            else
            {
                ResidentRotation<TOps, TVector, SingleKernel<TOps, TVector, TProducts>, float>.RotateRows<HalfSplitPairs, NormalizedHeads<TOps, TVector>>(
                    work, first, second, transform);
            }
        }

        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }

        return true;
    }

    /// <summary>The weights every normalized value is multiplied by: the caller's, 1 + w (rounded) or 1 written into <paramref name="scratch"/>.</summary>
    internal static float* EffectiveWeights(in PinnedHeadNorm norm, int headDim, float* scratch)
    {
        switch (norm.Kind)
        {
            case RopeHeadNormKind.Weight:
                return norm.Weights;
            case RopeHeadNormKind.OnePlusWeight:
                for (int i = 0; i < headDim; i++)
                {
                    scratch[i] = 1f + norm.Weights[i];
                }

                return scratch;
            default:
                new Span<float>(scratch, headDim).Fill(1f);
                return scratch;
        }
    }

    /// <summary>
    /// One token where the span is no whole register blocks: every head's scale, every head normalized in place, then
    /// the token rotated by the float32 kernel with <typeparamref name="TProducts"/>.
    /// </summary>
    private static void NormalizeThenRotate<TProducts>(in RotationWork oneToken, scoped in RotationTarget<float> first, nint firstOffset,
        scoped in RotationTarget<float> second, nint secondOffset, in PinnedHeadNorm firstNorm, in PinnedHeadNorm secondNorm, Span<float> scales)
        where TProducts : IProductSum
    {
        int firstHeads = first.Shape.Heads;
        Scales(first.Source, firstOffset, first.Shape, firstNorm.Kind != RopeHeadNormKind.None, firstNorm.Epsilon, scales);
        Scales(second.Source, secondOffset, second.Shape, secondNorm.Kind != RopeHeadNormKind.None, secondNorm.Epsilon, scales[firstHeads..]);
        Normalize(first.Source, first.Destination, firstOffset, first.Shape, firstNorm, scales);
        Normalize(second.Source, second.Destination, secondOffset, second.Shape, secondNorm, scales[firstHeads..]);
        // Normalized heads are in their destinations now and are rotated there; a target without a norm is rotated from
        // its source into its destination.
        RotationDriver<TOps, TVector, SingleKernel<TOps, TVector, TProducts>, float>.Rotate(oneToken,
            firstNorm.Kind == RopeHeadNormKind.None ? first : Normalized(first), secondNorm.Kind == RopeHeadNormKind.None ? second : Normalized(second));
    }

    /// <summary>A target whose heads were normalized into its destination: rotated in place there.</summary>
    private static RotationTarget<float> Normalized(scoped in RotationTarget<float> target) => new(target.Destination, target.Destination, target.Shape);

    /// <summary>One token of <paramref name="shape"/>'s heads, packed one after another (no heads: an empty shape).</summary>
    private static RopeShape Packed(RopeShape shape) => shape.Heads == 0 ? default : new RopeShape(1, shape.Heads, shape.HeadDim);

    /// <summary>
    /// Each head's 1 / sqrt(mean(x²) + ε) for the heads of one token starting at <paramref name="tokenOffset"/>, or 1
    /// for every head where the tensor has no norm.
    /// </summary>
    internal static void Scales(ReadOnlySpan<float> values, nint tokenOffset, RopeShape shape, bool normalizes, float epsilon, Span<float> scales)
    {
        Span<float> heads = scales[..shape.Heads];
        if (!normalizes)
        {
            heads.Fill(1f);
            return;
        }

        RmsNorm<TOps, TVector>.SumsOfSquares(ref Unsafe.Add(ref MemoryMarshal.GetReference(values), tokenOffset), shape.HeadStride, shape.HeadDim, heads);
        RmsNorm<TOps, TVector>.InverseRoots(heads, shape.HeadDim, epsilon);
    }

    /// <summary>Every head of one token normalized with its scale, from <paramref name="source"/> into <paramref name="destination"/>.</summary>
    private static void Normalize(ReadOnlySpan<float> source, Span<float> destination, nint tokenOffset, RopeShape shape, in PinnedHeadNorm norm,
        ReadOnlySpan<float> scales)
    {
        switch (norm.Kind)
        {
            case RopeHeadNormKind.Weight:
                Normalize<TimesWeight>(source, destination, tokenOffset, shape, norm.Weights, scales);
                break;
            case RopeHeadNormKind.OnePlusWeight:
                Normalize<TimesOnePlusWeight>(source, destination, tokenOffset, shape, norm.Weights, scales);
                break;
            case RopeHeadNormKind.Unweighted:
                Normalize<Unweighted>(source, destination, tokenOffset, shape, norm.Weights, scales);
                break;
        }
    }

    private static void Normalize<TWeighting>(ReadOnlySpan<float> source, Span<float> destination, nint tokenOffset, RopeShape shape, float* weights,
        ReadOnlySpan<float> scales)
        where TWeighting : IWeighting
    {
        ref float from = ref Unsafe.Add(ref MemoryMarshal.GetReference(source), tokenOffset);
        ref float to = ref Unsafe.Add(ref MemoryMarshal.GetReference(destination), tokenOffset);
        for (int head = 0; head < shape.Heads; head++)
        {
            nint offset = (nint)head * shape.HeadStride;
            RmsNorm<TOps, TVector>.Scale<TWeighting>(ref Unsafe.Add(ref from, offset), ref Unsafe.Add(ref to, offset), shape.HeadDim, scales[head],
                ref Unsafe.AsRef<float>(weights));
        }
    }
}
