
namespace Rope.Simd.Kernels.Elements;

/// <summary>
/// Rotation of one element type in registers of one ISA: <see cref="Count"/> elements per block and the few operations
/// on a block. Loops, tails, scratch and dispatch live in <see cref="Drivers.RotationDriver{TOps, TVector, TKernel, TElement}"/>.
/// </summary>
/// <remarks>
/// Per token the driver expands the row once into per-block cos and sin slots of <see cref="Count"/> floats each (the
/// order inside a slot is the kernel's own), in scratch or, for spans of a few whole blocks, in registers, then
/// rotates every head of that token with them. Interleaved blocks start at even elements, so a block always holds
/// whole pairs.
/// </remarks>
internal interface IRotationKernel<TElement, TVector>
    where TElement : unmanaged
    where TVector : struct
{
    /// <summary>Elements per block; even.</summary>
    static abstract int Count { get; }

    /// <summary>
    /// Whether the driver should rotate heads two at a time, loading each slot once for both: worth it where loads,
    /// not arithmetic, bound the kernel (float32). The 16-bit kernels are bound by arithmetic and keep one head per
    /// pass, which also keeps their codecs within the JIT's inlining budget.
    /// </summary>
    static abstract bool TwoHeadsPerPass { get; }

    /// <summary>
    /// Whether a half-split block's cos and sin slots hold the block's cosines and sines in pair order, so runs of them
    /// the caller keeps apart serve as slots where they lie (float32). The 16-bit kernels order a slot's pairs even
    /// elements first, then odd ones, and need the runs expanded.
    /// </summary>
    static abstract bool HalfSplitSlotsInPairOrder { get; }

    /// <summary>Loads one block of elements from any address.</summary>
    static abstract TVector Load(ref TElement source);

    /// <summary>Stores one block of elements to any address.</summary>
    static abstract void Store(TVector value, ref TElement destination);

    /// <summary>Fills one cos slot and one sin slot from the <see cref="Count"/> row floats [c, s, c, s, ...] of an interleaved block.</summary>
    static abstract void ExpandInterleaved(ref float row, bool inverse, ref float cos, ref float sin);

    /// <summary>Fills one cos slot and one sin slot from the 2·<see cref="Count"/> row floats of the pairs of a half-split block.</summary>
    static abstract void ExpandHalfSplit(ref float pairs, bool inverse, ref float cos, ref float sin);

    /// <summary>The slots <see cref="ExpandInterleaved(ref float, bool, ref float, ref float)"/> fills, as registers.</summary>
    static abstract void ExpandInterleaved(ref float row, bool inverse, out TVector cos, out TVector sin);

    /// <summary>
    /// The slots <see cref="ExpandHalfSplit(ref float, bool, ref float, ref float)"/> fills, as registers (only where
    /// <see cref="ResidentHalfSplitBlocks"/> is positive: a slot is one register).
    /// </summary>
    static abstract void ExpandHalfSplit(ref float pairs, bool inverse, out TVector cos, out TVector sin);

    /// <summary>
    /// The slots <see cref="ExpandHalfSplit(ref float, bool, ref float, ref float)"/> fills, from the <see cref="Count"/> cosines and <see cref="Count"/> sines
    /// of the block's pairs kept as two runs (caller rows <c>[cos | sin]</c> and separate caches).
    /// </summary>
    static abstract void ExpandHalfSplitFromHalves(ref float cosines, ref float sines, bool inverse, ref float cos, ref float sin);

    /// <summary>
    /// The slots <see cref="ExpandInterleaved(ref float, bool, ref float, ref float)"/> fills for the interleaved block whose first pair is
    /// <paramref name="pair"/>, from runs of <paramref name="pairs"/> cosines and sines; reads only inside the runs.
    /// </summary>
    static abstract void ExpandInterleavedFromHalves(ref float cosines, ref float sines, int pair, int pairs, bool inverse, ref float cos, ref float sin);

    /// <summary>
    /// Interleaved blocks of a span whose cos and sin the driver may hold in registers across all heads of a token (0:
    /// none), so a head costs its own loads, arithmetic and stores only. Bounded by the ISA's registers: two per block,
    /// the rest left to the arithmetic.
    /// </summary>
    static abstract int ResidentInterleavedBlocks { get; }

    /// <summary>The same for half-split blocks (0 where a block's slots are more than one register each).</summary>
    static abstract int ResidentHalfSplitBlocks { get; }

    /// <summary>Rotates the pairs of one interleaved block with its cos and sin slots already in registers.</summary>
    static abstract TVector RotateInterleaved(TVector block, TVector cos, TVector sin);

    /// <summary>Rotates a block of first halves with its second halves, the slots already in registers.</summary>
    static abstract void RotateHalfSplit(ref TVector first, ref TVector second, TVector cos, TVector sin);

    /// <summary>Rotates the pairs of one interleaved block.</summary>
    static abstract TVector RotateInterleaved(TVector block, ref float cos, ref float sin);

    /// <summary>Rotates a block of first halves with the matching block of second halves.</summary>
    static abstract void RotateHalfSplit(ref TVector first, ref TVector second, ref float cos, ref float sin);
}
