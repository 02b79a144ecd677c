using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rope.Simd.Bench;

/// <summary>
/// The floor for in-place RoPE: streaming read-modify-write loops over the same buffer. RoPE reads and writes every
/// element once, so no RoPE can beat the fastest such loop on the same bytes. No single loop is the fastest on every
/// machine (unrolling and width decide how many loads are in flight), so a section measures every variant in its own
/// rounds and takes the fastest as its limit: the two widest accelerated widths, each unrolled 1, 2, 4 and 8 times
/// with all loads of an iteration issued before its stores.
/// </summary>
public static class BandwidthLimit
{
    /// <summary>What a limit loop does to each lane.</summary>
    public enum Operation
    {
        /// <summary>x = x·0.999 + 0.001: float32 values stay normal.</summary>
        MultiplyAdd,

        /// <summary>
        /// x ^= 0x00010001: flips the lowest mantissa bit of both 16-bit halves of a lane, so a buffer shared with
        /// 16-bit rotations never fills with subnormal or NaN patterns (some CPUs slow down many times on those).
        /// </summary>
        FlipBits,
    }

    /// <summary>Every same-bytes loop: the widths of <see cref="Widths"/>, each unrolled 1, 2, 4 and 8 times.</summary>
    public static IEnumerable<(string Name, Action<Span<float>> Loop)> Loops(Operation operation) =>
        from width in Widths()
        from unroll in new[] { 1, 2, 4, 8 }
        select ($"Vector{width} x{unroll}", Loop(operation, width, unroll));

    /// <summary>The same-bytes variants for <paramref name="buffer"/>, each named by its width and unrolling.</summary>
    public static IReadOnlyList<(string Name, Action Loop)> Variants(AlignedBuffer buffer, Operation operation) =>
        [.. Loops(operation).Select(variant => (variant.Name, (Action)(() => variant.Loop(buffer.Span))))];

    /// <summary>
    /// The variants on <paramref name="threads"/> threads, each thread streaming its contiguous share of the buffer
    /// <paramref name="passes"/> times before they join: the start-up of the threads is spread over the passes, so this is
    /// what the threads can stream, not what one hand-off per pass costs.
    /// </summary>
    public static IReadOnlyList<(string Name, Action Loop)> VariantsOnThreads(AlignedBuffer buffer, Operation operation, int threads, int passes) =>
        [.. Loops(operation).Select(variant => ($"{variant.Name} on {threads} threads", (Action)(() =>
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
            {
                int start = (int)((long)buffer.Length * part / threads), end = (int)((long)buffer.Length * (part + 1) / threads);
                for (int pass = 0; pass < passes; pass++)
                {
                    variant.Loop(buffer.Span[start..end]);
                }
            }))))];

    /// <summary>
    /// The variant that streams <paramref name="buffers"/> fastest here, by the best of 21 timed passes each (for
    /// harnesses that take one baseline method, such as BenchmarkDotNet's).
    /// </summary>
    public static (string Name, Action<Span<float>> Loop) Fastest(Operation operation, params AlignedBuffer[] buffers)
    {
        (string Name, Action<Span<float>> Loop) best = ("", _ => { });
        double bestTime = double.MaxValue;
        foreach ((string Name, Action<Span<float>> Loop) variant in Loops(operation))
        {
            for (int pass = 0; pass < 21; pass++)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                foreach (AlignedBuffer buffer in buffers)
                {
                    variant.Loop(buffer.Span);
                }

                double time = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalNanoseconds;
                if (time < bestTime)
                {
                    (bestTime, best) = (time, variant);
                }
            }
        }

        return best;
    }

    /// <summary>One variant as a loop over any span (for threads that each stream a share of a buffer).</summary>
    public static Action<Span<float>> Loop(Operation operation, int width, int unroll) => operation switch
    {
        Operation.MultiplyAdd => Loop<MultiplyAddLanes>(width, unroll),
        _ => Loop<FlipBitsLanes>(width, unroll),
    };

    private static Action<Span<float>> Loop<TLanes>(int width, int unroll)
        where TLanes : ILanes => width switch
    {
        512 => Loop<Width512, Vector512<float>, TLanes>(unroll),
        256 => Loop<Width256, Vector256<float>, TLanes>(unroll),
        _ => Loop<Width128, Vector128<float>, TLanes>(unroll),
    };

    private static Action<Span<float>> Loop<TWidth, TVector, TLanes>(int unroll)
        where TWidth : IWidth<TVector>
        where TVector : struct
        where TLanes : ILanes => unroll switch
    {
        1 => Stream<TWidth, TVector, TLanes, One>,
        2 => Stream<TWidth, TVector, TLanes, Two>,
        4 => Stream<TWidth, TVector, TLanes, Four>,
        _ => Stream<TWidth, TVector, TLanes, Eight>,
    };

    /// <summary>The two widest vector widths the runtime accelerates here (128 alone where nothing wider is).</summary>
    public static IReadOnlyList<int> Widths()
    {
        int[] accelerated = [.. new[] { (512, Vector512.IsHardwareAccelerated), (256, Vector256.IsHardwareAccelerated), (128, Vector128.IsHardwareAccelerated) }
            .Where(width => width.Item2).Select(width => width.Item1)];
        return accelerated.Length == 0 ? [128] : accelerated[..Math.Min(2, accelerated.Length)];
    }

    /// <summary>
    /// The floor of a pass that rewrites one buffer in place and streams others through once (a fused call that rotates
    /// queries in place, reads keys and values and writes a cache): every read-modify-write variant over
    /// <paramref name="rewritten"/>, each followed by a read-only stream over <paramref name="read"/> and a write-only
    /// stream over <paramref name="written"/>.
    /// </summary>
    public static IReadOnlyList<(string Name, Action Loop)> FusedPassVariants(AlignedBuffer rewritten, AlignedBuffer read, AlignedBuffer written,
        Operation operation) =>
        [.. Loops(operation).Select(variant => ($"{variant.Name} + read-only and write-only streams", (Action)(() =>
        {
            variant.Loop(rewritten.Span);
            ReadOnly(read.Span);
            WriteOnly(written.Span);
        })))];

    /// <summary>
    /// Context for a limit: a read-only stream of the same bytes (a sum the JIT cannot drop) and a write-only stream
    /// (a constant stored over them), each at the widest width unrolled 4 times.
    /// </summary>
    public static IReadOnlyList<(string Name, Action Loop)> Streams(AlignedBuffer buffer) =>
    [
        ("read-only stream of the same bytes", () => ReadOnly(buffer.Span)),
        ("write-only stream of the same bytes", () => WriteOnly(buffer.Span)),
    ];

    /// <summary>The checksum of the read-only stream, kept so the loads stay.</summary>
    public static float Checksum { get; private set; }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ReadOnly(Span<float> values)
    {
        ref float start = ref MemoryMarshal.GetReference(values);
        nuint length = (nuint)values.Length, i = 0;
        var sum0 = Vector256<float>.Zero;
        var sum1 = Vector256<float>.Zero;
        var sum2 = Vector256<float>.Zero;
        var sum3 = Vector256<float>.Zero;
        nuint step = (nuint)Vector256<float>.Count;
        for (; i + 4 * step <= length; i += 4 * step)
        {
            sum0 += Vector256.LoadUnsafe(ref start, i);
            sum1 += Vector256.LoadUnsafe(ref start, i + step);
            sum2 += Vector256.LoadUnsafe(ref start, i + 2 * step);
            sum3 += Vector256.LoadUnsafe(ref start, i + 3 * step);
        }

        float sum = Vector256.Sum(sum0 + sum1 + sum2 + sum3);
        for (; i < length; i++)
        {
            sum += Unsafe.Add(ref start, i);
        }

        Checksum = sum;
    }

    // Writes the bits the values already hold at index 0 (stored once per lane), so the buffer stays usable.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteOnly(Span<float> values)
    {
        ref float start = ref MemoryMarshal.GetReference(values);
        nuint length = (nuint)values.Length, i = 0;
        var value = Vector256.Create(Unsafe.Add(ref start, length / 2));
        nuint step = (nuint)Vector256<float>.Count;
        for (; i + 4 * step <= length; i += 4 * step)
        {
            value.StoreUnsafe(ref start, i);
            value.StoreUnsafe(ref start, i + step);
            value.StoreUnsafe(ref start, i + 2 * step);
            value.StoreUnsafe(ref start, i + 3 * step);
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref start, i) = value[0];
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Stream<TWidth, TVector, TLanes, TUnroll>(Span<float> values)
        where TWidth : IWidth<TVector>
        where TVector : struct
        where TLanes : ILanes
        where TUnroll : IUnroll
    {
        ref float start = ref MemoryMarshal.GetReference(values);
        nuint length = (nuint)values.Length, i = 0, step = TWidth.Count, unroll = TUnroll.Value;
        for (; i + unroll * step <= length; i += unroll * step)
        {
            TVector v0 = TWidth.Load(ref start, i);
            TVector v1 = unroll > 1 ? TWidth.Load(ref start, i + step) : default;
            TVector v2 = unroll > 2 ? TWidth.Load(ref start, i + 2 * step) : default;
            TVector v3 = unroll > 2 ? TWidth.Load(ref start, i + 3 * step) : default;
            TVector v4 = unroll > 4 ? TWidth.Load(ref start, i + 4 * step) : default;
            TVector v5 = unroll > 4 ? TWidth.Load(ref start, i + 5 * step) : default;
            TVector v6 = unroll > 4 ? TWidth.Load(ref start, i + 6 * step) : default;
            TVector v7 = unroll > 4 ? TWidth.Load(ref start, i + 7 * step) : default;
            TWidth.Store(TWidth.Apply<TLanes>(v0), ref start, i);
            if (unroll > 1)
            {
                TWidth.Store(TWidth.Apply<TLanes>(v1), ref start, i + step);
            }

            if (unroll > 2)
            {
                TWidth.Store(TWidth.Apply<TLanes>(v2), ref start, i + 2 * step);
                TWidth.Store(TWidth.Apply<TLanes>(v3), ref start, i + 3 * step);
            }

            if (unroll > 4)
            {
                TWidth.Store(TWidth.Apply<TLanes>(v4), ref start, i + 4 * step);
                TWidth.Store(TWidth.Apply<TLanes>(v5), ref start, i + 5 * step);
                TWidth.Store(TWidth.Apply<TLanes>(v6), ref start, i + 6 * step);
                TWidth.Store(TWidth.Apply<TLanes>(v7), ref start, i + 7 * step);
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref start, i) = TLanes.Apply(Unsafe.Add(ref start, i));
        }
    }

    private interface IWidth<TVector>
        where TVector : struct
    {
        static abstract nuint Count { get; }

        static abstract TVector Load(ref float start, nuint index);

        static abstract void Store(TVector value, ref float start, nuint index);

        static abstract TVector Apply<TLanes>(TVector value)
            where TLanes : ILanes;
    }

    private readonly struct Width512 : IWidth<Vector512<float>>
    {
        public static nuint Count => (nuint)Vector512<float>.Count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(ref float start, nuint index) => Vector512.LoadUnsafe(ref start, index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Vector512<float> value, ref float start, nuint index) => value.StoreUnsafe(ref start, index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply<TLanes>(Vector512<float> value)
            where TLanes : ILanes => TLanes.Apply(value);
    }

    private readonly struct Width256 : IWidth<Vector256<float>>
    {
        public static nuint Count => (nuint)Vector256<float>.Count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(ref float start, nuint index) => Vector256.LoadUnsafe(ref start, index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Vector256<float> value, ref float start, nuint index) => value.StoreUnsafe(ref start, index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply<TLanes>(Vector256<float> value)
            where TLanes : ILanes => TLanes.Apply(value);
    }

    private readonly struct Width128 : IWidth<Vector128<float>>
    {
        public static nuint Count => (nuint)Vector128<float>.Count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load(ref float start, nuint index) => Vector128.LoadUnsafe(ref start, index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Vector128<float> value, ref float start, nuint index) => value.StoreUnsafe(ref start, index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply<TLanes>(Vector128<float> value)
            where TLanes : ILanes => TLanes.Apply(value);
    }

    private interface ILanes
    {
        static abstract Vector512<float> Apply(Vector512<float> value);

        static abstract Vector256<float> Apply(Vector256<float> value);

        static abstract Vector128<float> Apply(Vector128<float> value);

        static abstract float Apply(float value);
    }

    private readonly struct MultiplyAddLanes : ILanes
    {
        private const float Factor = 0.999f, Addend = 1e-3f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> value) => Vector512.MultiplyAddEstimate(value, Vector512.Create(Factor), Vector512.Create(Addend));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> value) => Vector256.MultiplyAddEstimate(value, Vector256.Create(Factor), Vector256.Create(Addend));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply(Vector128<float> value) => Vector128.MultiplyAddEstimate(value, Vector128.Create(Factor), Vector128.Create(Addend));

        public static float Apply(float value) => value * Factor + Addend;
    }

    private readonly struct FlipBitsLanes : ILanes
    {
        private const uint Flip = 0x0001_0001;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Apply(Vector512<float> value) => (value.AsUInt32() ^ Vector512.Create(Flip)).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Apply(Vector256<float> value) => (value.AsUInt32() ^ Vector256.Create(Flip)).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Apply(Vector128<float> value) => (value.AsUInt32() ^ Vector128.Create(Flip)).AsSingle();

        public static float Apply(float value) => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(value) ^ Flip);
    }

    private interface IUnroll
    {
        static abstract nuint Value { get; }
    }

    private readonly struct One : IUnroll
    {
        public static nuint Value => 1;
    }

    private readonly struct Two : IUnroll
    {
        public static nuint Value => 2;
    }

    private readonly struct Four : IUnroll
    {
        public static nuint Value => 4;
    }

    private readonly struct Eight : IUnroll
    {
        public static nuint Value => 8;
    }
}
