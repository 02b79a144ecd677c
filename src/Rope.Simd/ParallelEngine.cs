using Rope.Simd.Kernels;
using Rope.Simd.Tables;

namespace Rope.Simd;

/// <summary>
/// A <see cref="RopeEngine"/> that splits large rotations over the .NET thread pool and runs each part on an inner
/// single-threaded engine; small calls stay on the calling thread. Conversions run on the calling thread.
/// </summary>
internal sealed class ParallelEngine : RopeEngine
{
    private readonly RopeEngine inner;
    private readonly int maxDegreeOfParallelism;
    private readonly int minElementsPerThread;

    public ParallelEngine(RopeEngine inner, int maxDegreeOfParallelism, int minElementsPerThread)
    {
        this.inner = inner;
        this.maxDegreeOfParallelism = maxDegreeOfParallelism;
        this.minElementsPerThread = minElementsPerThread;
    }

    public RopeEngine Inner => inner;

    public override RopePath Path => inner.Path;

    public override int MaxDegreeOfParallelism => maxDegreeOfParallelism;

    public override int MinElementsPerThread => minElementsPerThread;

    internal override bool IsAccelerated => inner.IsAccelerated;

    public override string ToString() => $"{inner} ×{maxDegreeOfParallelism}";

    internal override void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<float> first, scoped in RotationTarget<float> second) =>
        ParallelRotation<float>.Run(inner, Workers(rows, tokens, first.Shape, second.Shape), rows, layout, inverse, positions, tokens, first, second);

    internal override void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<BFloat16> first, scoped in RotationTarget<BFloat16> second) =>
        ParallelRotation<BFloat16>.Run(inner, Workers(rows, tokens, first.Shape, second.Shape), rows, layout, inverse, positions, tokens, first, second);

    internal override void Rotate(in RowSource rows, RopeLayout layout, bool inverse, RopePositions positions, int tokens,
        scoped in RotationTarget<Half> first, scoped in RotationTarget<Half> second) =>
        ParallelRotation<Half>.Run(inner, Workers(rows, tokens, first.Shape, second.Shape), rows, layout, inverse, positions, tokens, first, second);

    internal override void Narrow(ReadOnlySpan<float> source, Span<BFloat16> destination) => inner.Narrow(source, destination);

    internal override void Narrow(ReadOnlySpan<float> source, Span<Half> destination) => inner.Narrow(source, destination);

    internal override void Widen(ReadOnlySpan<BFloat16> source, Span<float> destination) => inner.Widen(source, destination);

    internal override void Widen(ReadOnlySpan<Half> source, Span<float> destination) => inner.Widen(source, destination);

    /// <summary>Threads for one call: one per <see cref="MinElementsPerThread"/> rotated elements, capped, at least one.</summary>
    private int Workers(in RowSource rows, int tokens, RopeShape firstShape, RopeShape secondShape)
    {
        long elements = (long)tokens * (firstShape.Heads + secondShape.Heads) * rows.RotaryDim;
        long byWork = elements / minElementsPerThread;
        return (int)Math.Clamp(byWork, 1, maxDegreeOfParallelism);
    }
}
