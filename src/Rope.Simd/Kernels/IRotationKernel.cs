namespace Rope.Simd.Kernels;

/// <summary>
/// The per-ISA part of rotation: a vector type of <see cref="Count"/> floats and the few operations on it that
/// differ between instruction sets. Loops, tails, validation and dispatch live in <see cref="RotationDriver{TKernel, TVector}"/>.
/// </summary>
/// <remarks>
/// The driver first expands a table row once per token into per-element cos and signed-sin vectors, then rotates
/// every head of that token with them:
/// interleaved x' = x·cos + swapPairs(x)·sin with sin = [-s0, s0, -s1, s1, ...] (signs flipped for the inverse);
/// half-split a' = a·cos − b·sin, b' = b·cos + a·sin with sin negated for the inverse.
/// Every product pair is combined by one multiply-add (fused where the ISA has FMA).
/// </remarks>
internal interface IRotationKernel<TVector>
    where TVector : struct
{
    /// <summary>The path this kernel implements.</summary>
    static abstract RopePath Path { get; }

    /// <summary>Whether this process can run the kernel at all.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>Whether the runtime accelerates this vector width by default (the widest such kernel is the default path).</summary>
    static abstract bool IsAccelerated { get; }

    /// <summary>Floats per vector; even, so a vector always holds whole interleaved pairs.</summary>
    static abstract int Count { get; }

    static abstract TVector Load(ref float source);

    static abstract void Store(TVector value, ref float destination);

    /// <summary>From interleaved row floats [c0, s0, c1, s1, ...]: cos = [c0, c0, c1, c1, ...], sin = [∓s0, ±s0, ...].</summary>
    static abstract void ExpandInterleaved(TVector row, bool inverse, out TVector cos, out TVector sin);

    /// <summary>From two vectors of row floats: cos = [c0, c1, ...] and sin = [s0, s1, ...] (negated for the inverse).</summary>
    static abstract void ExpandHalfSplit(TVector rowLow, TVector rowHigh, bool inverse, out TVector cos, out TVector sin);

    /// <summary>x·cos + swapPairs(x)·sin for expanded interleaved cos/sin.</summary>
    static abstract TVector RotateInterleaved(TVector x, TVector cos, TVector sin);

    /// <summary>(a·cos − b·sin, b·cos + a·sin) element-wise.</summary>
    static abstract void RotateHalfSplit(ref TVector first, ref TVector second, TVector cos, TVector sin);
}
