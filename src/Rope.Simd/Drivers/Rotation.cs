using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Rope.Simd.Kernels;
using Rope.Simd.Parallelism;
using Rope.Simd.Positions;
using Rope.Simd.Rows;

namespace Rope.Simd.Drivers;

/// <summary>
/// The one path from a validated call to the driver. Every choice is made here once, each as a type argument: where
/// rows come from (<see cref="IRowSource"/>), how positions are given (<see cref="IPositionSource"/>), whether the call
/// is split over threads, the instruction set (<see cref="IVectorOps{TVector}"/>) and the element type's kernel.
/// Caller memory that rows and positions read is pinned here for the whole call.
/// </summary>
internal static unsafe class Rotation
{
    /// <summary>
    /// Runs <paramref name="operation"/> on every token of <paramref name="shape"/>'s sequences (the shape both targets
    /// share in batch and tokens).
    /// </summary>
    public static void Run<TElement, TOperation>(RopeEngine engine, scoped in RopeRows rows, scoped in RopePositions positions, RopeLayout layout,
        bool inverse, RopeShape shape, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TOperation : struct, IRotationOperation
    {
        int tokens = shape.TotalTokens;
        var call = new Call(engine.Path, engine.Workers(tokens, first.Shape.Heads + second.Shape.Heads, rows.RotaryDim), layout, inverse,
            tokens, shape.Tokens);
        fixed (byte* firstRows = rows.First, secondRows = rows.Second)
        fixed (int* temporal = positions.Values, height = positions.HeightValues, width = positions.WidthValues)
        fixed (long* longPositions = positions.LongValues)
        fixed (int* starts = positions.SequenceStarts)
        {
            var pinned = new PinnedPositions(positions, temporal, height, width, longPositions, starts);
            switch (rows.Format)
            {
                case RopeRowFormat.Table:
                    WithRows(call, new TableRows(rows.Table!), pinned, first, second, operation);
                    break;
                case RopeRowFormat.Computed:
                    WithRows(call, new ComputedRows(rows.Frequencies!), pinned, first, second, operation);
                    break;
                default:
                    switch (rows.Value)
                    {
                        case RopeRowValue.Single:
                            WithCallerRows<TElement, float, TOperation>(call, rows, firstRows, secondRows, pinned, first, second, operation);
                            break;
                        case RopeRowValue.BFloat16:
                            WithCallerRows<TElement, BFloat16, TOperation>(call, rows, firstRows, secondRows, pinned, first, second, operation);
                            break;
                        default:
                            WithCallerRows<TElement, Half, TOperation>(call, rows, firstRows, secondRows, pinned, first, second, operation);
                            break;
                    }

                    break;
            }
        }
    }

    /// <summary>The caller's rows of <typeparamref name="TValue"/>: interleaved rows, or cosines and sines as two runs.</summary>
    private static void WithCallerRows<TElement, TValue, TOperation>(in Call call, scoped in RopeRows rows, byte* firstRows, byte* secondRows,
        in PinnedPositions positions, scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TValue : unmanaged
        where TOperation : struct, IRotationOperation
    {
        if (rows.Format == RopeRowFormat.Interleaved)
        {
            WithRows(call, new InterleavedRows<TValue>(firstRows, rows.RotaryDim, rows.RowStride, rows.LastRowStart), positions, first, second, operation);
            return;
        }

        // [cos | sin] rows are two runs in one span: the sines start half a row in.
        byte* sines = rows.Format == RopeRowFormat.CosThenSin ? firstRows + rows.RotaryDim / 2 * sizeof(TValue) : secondRows;
        WithRows(call, new SplitRows<TValue>(firstRows, sines, rows.RotaryDim, rows.RowStride, rows.LastRowStart), positions, first, second, operation);
    }

    private static void WithRows<TElement, TRows, TOperation>(in Call call, in TRows rows, in PinnedPositions positions,
        scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TOperation : struct, IRotationOperation
    {
        switch (positions.Kind)
        {
            case PositionKind.Sequential:
                WithPositions(call, rows, new SequentialPositions(positions.Start), first, second, operation);
                break;
            case PositionKind.SequenceStarts:
                WithPositions(call, rows, new SequenceStartPositions(positions.Starts), first, second, operation);
                break;
            case PositionKind.Int32:
                WithPositions(call, rows, new ExplicitPositions<int>(positions.Temporal), first, second, operation);
                break;
            case PositionKind.Int64:
                WithPositions(call, rows, new ExplicitPositions<long>(positions.Long), first, second, operation);
                break;
            default:
                WithPositions(call, rows, new MultimodalPositions(positions.Temporal, positions.Height, positions.Width, positions.Sections!), first, second, operation);
                break;
        }
    }

    private static void WithPositions<TElement, TRows, TPositions, TOperation>(in Call call, in TRows rows, in TPositions positions,
        scoped in RotationTarget<TElement> first, scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TPositions : struct, IPositionSource
        where TOperation : struct, IRotationOperation
    {
        if (call.Workers > 1)
        {
            ParallelRotation<TElement, TRows, TPositions, TOperation>.Run(call, rows, positions, first, second, operation);
        }
        else
        {
            OnPath(call.Path, rows, positions, call.Layout, call.Inverse, 0, call.Tokens, call.TokensPerSequence, first, second, operation);
        }
    }

    /// <summary>Tokens [firstToken, endToken) on one path: the instruction set, then the operation on it.</summary>
    public static void OnPath<TElement, TRows, TPositions, TOperation>(RopePath path, in TRows rows, in TPositions positions, RopeLayout layout,
        bool inverse, int firstToken, int endToken, int tokensPerSequence, scoped in RotationTarget<TElement> first,
        scoped in RotationTarget<TElement> second, in TOperation operation)
        where TElement : unmanaged
        where TRows : struct, IRowSource
        where TPositions : struct, IPositionSource
        where TOperation : struct, IRotationOperation
    {
        switch (path)
        {
            case RopePath.Vector512:
                operation.Run<Vector512Ops, Vector512<float>, TElement, TRows, TPositions>(rows, positions, layout, inverse, firstToken, endToken, tokensPerSequence, first, second);
                break;
            case RopePath.Vector256:
                operation.Run<Vector256Ops, Vector256<float>, TElement, TRows, TPositions>(rows, positions, layout, inverse, firstToken, endToken, tokensPerSequence, first, second);
                break;
            case RopePath.Vector128:
                operation.Run<Vector128Ops, Vector128<float>, TElement, TRows, TPositions>(rows, positions, layout, inverse, firstToken, endToken, tokensPerSequence, first, second);
                break;
            default:
                operation.Run<ScalarOps, LanePair, TElement, TRows, TPositions>(rows, positions, layout, inverse, firstToken, endToken, tokensPerSequence, first, second);
                break;
        }
    }

    /// <summary>A target of one element type seen as another; used where a type test has shown they are the same.</summary>
    internal static ref readonly RotationTarget<TTo> As<TFrom, TTo>(scoped in RotationTarget<TFrom> target)
        where TFrom : unmanaged
        where TTo : unmanaged =>
        ref Unsafe.As<RotationTarget<TFrom>, RotationTarget<TTo>>(ref Unsafe.AsRef(in target));

    /// <summary>What every part of a call shares; <see cref="Tokens"/> counts the tokens of all sequences.</summary>
    internal readonly record struct Call(RopePath Path, int Workers, RopeLayout Layout, bool Inverse, int Tokens, int TokensPerSequence);

    /// <summary>The positions' spans, pinned for the call.</summary>
    private readonly struct PinnedPositions(scoped in RopePositions positions, int* temporal, int* height, int* width, long* longValues, int* starts)
    {
        public PositionKind Kind { get; } = positions.Kind;

        public int Start { get; } = positions.Start;

        public MropeSections? Sections { get; } = positions.Sections;

        public int* Temporal => temporal;

        public int* Height => height;

        public int* Width => width;

        public long* Long => longValues;

        public int* Starts => starts;
    }
}
