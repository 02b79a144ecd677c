using System.Runtime.CompilerServices;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Parallelism;
using Rope.Simd.Positions;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>
/// The one path from a validated call to the driver. Rows and positions become readers (values, read once per token),
/// the work is split over threads or not, and the instruction set is chosen here once
/// (<see cref="OnPath{TElement, TOperation}"/>, the one place a path becomes <see cref="IVectorOps{TVector}"/>).
/// Caller memory that rows and positions read is pinned here for the whole call.
/// </summary>
internal static unsafe class Rotation
{
    /// <summary>
    /// Runs <paramref name="operation"/> on every token of <paramref name="shape"/>'s sequences (the shape both targets
    /// share in batch and tokens), over the engine's threads where the call is large enough.
    /// </summary>
    public static void Run<TElement, TOperation>(RopeEngine engine, scoped in RopeRows rows, scoped in RopePositions positions, RopeLayout layout,
        bool inverse, RopeShape shape, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TOperation : struct, IRotationOperation =>
        Run<TElement, TOperation, AcrossThreads>(engine.Path, engine.Workers(shape.TotalTokens, first.Shape.Heads + second.Shape.Heads, rows.RotaryDim),
            rows, positions, layout, inverse, shape, first, second, operation);

    /// <summary>The same on the calling thread alone: for operations whose writes go to places that tokens, not head ranges, decide.</summary>
    public static void RunOnOneThread<TElement, TOperation>(RopePath path, scoped in RopeRows rows, scoped in RopePositions positions, RopeLayout layout,
        bool inverse, RopeShape shape, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TOperation : struct, IRotationOperation =>
        Run<TElement, TOperation, OnOneThread>(path, 1, rows, positions, layout, inverse, shape, first, second, operation);

    // Never inlined: an entry that calls this on one of two branches (the append's queries over threads, or not) would
    // otherwise hold both copies' pinned and span locals in its frame and zero them on every call.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Run<TElement, TOperation, TThreads>(RopePath path, int workers, scoped in RopeRows rows, scoped in RopePositions positions,
        RopeLayout layout, bool inverse, RopeShape shape, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second,
        in TOperation operation)
        where TElement : unmanaged
        where TOperation : struct, IRotationOperation
        where TThreads : IThreadSplit
    {
        fixed (byte* firstRows = rows.First, secondRows = rows.Second)
        fixed (int* temporal = positions.Values, height = positions.HeightValues, width = positions.WidthValues)
        fixed (long* longPositions = positions.LongValues)
        fixed (int* starts = positions.SequenceStarts)
        {
            var positionReader = PositionReader.For(positions, temporal, longPositions, starts, height, width);
            var rowReader = RowReader.For(rows, firstRows, secondRows, positionReader.IsMultimodal ? positions.Sections : null);
            var work = new RotationWork(rowReader, positionReader, layout, inverse, new TokenRange(0, shape.TotalTokens, shape.Tokens));
            TThreads.Run(new Call(path, workers), work, first, second, operation);
        }
    }

    /// <summary>The tokens of <paramref name="work"/> on one path: the instruction set, then the operation on it.</summary>
    public static void OnPath<TElement, TOperation>(RopePath path, in RotationWork work, scoped in RotationTarget<TElement> first,
        scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TOperation : struct, IRotationOperation
    {
        var onPath = new OperationOnPath<TElement, TOperation>(work, first, second, operation);
        IsaPaths.Run(path, ref onPath);
    }

    /// <summary>A target of one element type seen as another; used where a type test has shown they are the same.</summary>
    internal static ref readonly RotationTarget<TTo> As<TFrom, TTo>(scoped in RotationTarget<TFrom> target)
        where TFrom : unmanaged
        where TTo : unmanaged =>
        ref Unsafe.As<RotationTarget<TFrom>, RotationTarget<TTo>>(ref Unsafe.AsRef(in target));

    /// <summary>An operation with its work and targets, waiting for its instruction set.</summary>
    private readonly ref struct OperationOnPath<TElement, TOperation>(in RotationWork work, scoped in RotationTarget<TElement> first,
        scoped in RotationTarget<TElement> second, in TOperation operation) : IIsaWork
        where TElement : unmanaged
        where TOperation : struct, IRotationOperation
    {
        private readonly ref readonly RotationWork work = ref work;
        private readonly RotationTarget<TElement> first = first, second = second;
        private readonly ref readonly TOperation operation = ref operation;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run<TOps, TVector>()
            where TOps : IVectorOps<TVector>
            where TVector : struct =>
            operation.Run<TOps, TVector, TElement>(work, first, second);
    }

    /// <summary>The path and the threads a call runs on.</summary>
    internal readonly record struct Call(RopePath Path, int Workers);

    /// <summary>Whether a call may be split over threads: a type argument, so an operation that never is compiles no parallel copy.</summary>
    private interface IThreadSplit
    {
        static abstract void Run<TElement, TOperation>(in Call call, in RotationWork work, scoped in RotationTarget<TElement> first,
            scoped in RotationTarget<TElement> second, in TOperation operation)
            where TElement : unmanaged
            where TOperation : struct, IRotationOperation;
    }

    private readonly struct AcrossThreads : IThreadSplit
    {
        public static void Run<TElement, TOperation>(in Call call, in RotationWork work, scoped in RotationTarget<TElement> first,
            scoped in RotationTarget<TElement> second, in TOperation operation)
            where TElement : unmanaged
            where TOperation : struct, IRotationOperation
        {
            if (call.Workers > 1)
            {
                ParallelRotation<TElement, TOperation>.Run(call, work, first, second, operation);
            }
            else
            {
                OnPath(call.Path, work, first, second, operation);
            }
        }
    }

    private readonly struct OnOneThread : IThreadSplit
    {
        public static void Run<TElement, TOperation>(in Call call, in RotationWork work, scoped in RotationTarget<TElement> first,
            scoped in RotationTarget<TElement> second, in TOperation operation)
            where TElement : unmanaged
            where TOperation : struct, IRotationOperation =>
            OnPath(call.Path, work, first, second, operation);
    }
}
