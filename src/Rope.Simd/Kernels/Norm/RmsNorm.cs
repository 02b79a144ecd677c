using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Kernels.Norm;

/// <summary>
/// RMS normalization of one head of float32 values on the ISA of <typeparamref name="TOps"/>, in an order that is the
/// same on every path, so the scale and every normalized value are the same bits everywhere.
/// </summary>
/// <remarks>
/// The sum of squares keeps <see cref="Partials"/> partial sums: element i's square (rounded) is added to partial
/// i mod 16, in order of i; the partials are then folded by halves (p[j] += p[j + 8] for j &lt; 8, then + 4, + 2,
/// + 1). A 512-bit register holds the 16 partials, narrower paths hold them in 2, 4 or 8 registers and fold those
/// into one first. The scale is 1 / sqrt(sum / n + ε), each step one rounded float32 operation; a value becomes
/// (x·scale)·w, two roundings, w being the weight, 1 + w (rounded) or absent.
/// </remarks>
internal static class RmsNorm<TOps, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    /// <summary>Partial sums of the canonical order.</summary>
    public const int Partials = 16;

    /// <summary>
    /// Turns each head's sum of squares into its scale, 1 / sqrt(sum / <paramref name="headDim"/> + ε), a register of
    /// heads at a time (each operation correctly rounded, so the same bits as one head at a time): the division and the
    /// square root are the slow steps, and this way a token's heads share them.
    /// </summary>
    public static void InverseRoots(Span<float> sums, int headDim, float epsilon)
    {
        int count = TOps.Count, whole = sums.Length - sums.Length % count;
        float divisor = headDim;
        ref float sum = ref MemoryMarshal.GetReference(sums);
        if (whole > 0)
        {
            TVector one = TOps.Broadcast(0x3F80_0000), heads = TOps.Broadcast(BitConverter.SingleToUInt32Bits(divisor));
            TVector shift = TOps.Broadcast(BitConverter.SingleToUInt32Bits(epsilon));
            for (nuint i = 0; i < (nuint)whole; i += (nuint)count)
            {
                TVector mean = TOps.Divide(TOps.Load(ref Unsafe.Add(ref sum, i)), heads);
                TOps.Store(TOps.Divide(one, TOps.SquareRoot(TOps.Add(mean, shift))), ref Unsafe.Add(ref sum, i));
            }
        }

        for (int i = whole; i < sums.Length; i++)
        {
            sums[i] = 1f / MathF.Sqrt(sums[i] / divisor + epsilon);
        }
    }

    /// <summary>Σ x² in the canonical order (see the type's remarks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumOfSquares(ref float head, int length) =>
        length % Partials == 0 ? SumOfChunks(ref head, length) : SumOfPaddedSquares(ref head, length);

    /// <summary>
    /// Σ x² of each of <paramref name="sums"/>.Length heads of <paramref name="length"/> values,
    /// <paramref name="headStride"/> apart, each in the canonical order. Where one register holds a head's 16 partials,
    /// four heads are summed side by side: each head's sum is a chain of dependent additions, and four independent
    /// chains keep the adder busy where one would wait on its own latency.
    /// </summary>
    public static void SumsOfSquares(ref float first, nint headStride, int length, Span<float> sums)
    {
        int head = 0;
        if (TOps.Count == Partials && length % Partials == 0)
        {
            nuint count = (nuint)TOps.Count;
            for (; head + 4 <= sums.Length; head += 4)
            {
                ref float head0 = ref Unsafe.Add(ref first, head * headStride);
                ref float head1 = ref Unsafe.Add(ref head0, headStride);
                ref float head2 = ref Unsafe.Add(ref head1, headStride);
                ref float head3 = ref Unsafe.Add(ref head2, headStride);
                TVector sum0 = default, sum1 = default, sum2 = default, sum3 = default;
                for (nuint i = 0; i < (nuint)length; i += count)
                {
                    sum0 = AddSquares(sum0, ref head0, i);
                    sum1 = AddSquares(sum1, ref head1, i);
                    sum2 = AddSquares(sum2, ref head2, i);
                    sum3 = AddSquares(sum3, ref head3, i);
                }

                sums[head] = TOps.FoldHalves(sum0);
                sums[head + 1] = TOps.FoldHalves(sum1);
                sums[head + 2] = TOps.FoldHalves(sum2);
                sums[head + 3] = TOps.FoldHalves(sum3);
            }
        }

        for (; head < sums.Length; head++)
        {
            sums[head] = SumOfSquares(ref Unsafe.Add(ref first, head * headStride), length);
        }
    }

    /// <summary>The canonical sum over whole chunks of 16 values, the partials in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumOfChunks(ref float head, int length)
    {
        int registers = Partials / TOps.Count;
        nuint count = (nuint)TOps.Count;
        TVector sum0 = default, sum1 = default, sum2 = default, sum3 = default, sum4 = default, sum5 = default, sum6 = default, sum7 = default;
        for (nuint i = 0; i < (nuint)length; i += Partials)
        {
            sum0 = AddSquares(sum0, ref head, i);
            if (registers > 1)
            {
                sum1 = AddSquares(sum1, ref head, i + count);
            }

            if (registers > 2)
            {
                sum2 = AddSquares(sum2, ref head, i + 2 * count);
                sum3 = AddSquares(sum3, ref head, i + 3 * count);
            }

            if (registers > 4)
            {
                sum4 = AddSquares(sum4, ref head, i + 4 * count);
                sum5 = AddSquares(sum5, ref head, i + 5 * count);
                sum6 = AddSquares(sum6, ref head, i + 6 * count);
                sum7 = AddSquares(sum7, ref head, i + 7 * count);
            }
        }

        // Fold the registers by halves (partial j plus partial j + 8, then + 4, ...) until one register holds them.
        if (registers > 4)
        {
            sum0 = TOps.Add(sum0, sum4);
            sum1 = TOps.Add(sum1, sum5);
            sum2 = TOps.Add(sum2, sum6);
            sum3 = TOps.Add(sum3, sum7);
        }

        if (registers > 2)
        {
            sum0 = TOps.Add(sum0, sum2);
            sum1 = TOps.Add(sum1, sum3);
        }

        if (registers > 1)
        {
            sum0 = TOps.Add(sum0, sum1);
        }

        return TOps.FoldHalves(sum0);
    }

    /// <summary>
    /// A head dim that is no multiple of 16: the values copied, zero-padded to whole chunks, so each lands in its own
    /// partial and the padding adds +0 to partials that are sums of squares (exact). Out of line, so the registers of
    /// the common case never have their address taken.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    [SkipLocalsInit]
    private static float SumOfPaddedSquares(ref float head, int length)
    {
        int padded = (length + Partials - 1) / Partials * Partials;
        float[]? rented = null;
        Span<float> values = padded <= Drivers.Scratch.StackLimit ? stackalloc float[padded] : (rented = ArrayPool<float>.Shared.Rent(padded));
        values = values[..padded];
        MemoryMarshal.CreateReadOnlySpan(ref head, length).CopyTo(values);
        values[length..].Clear();
        float sum = SumOfChunks(ref MemoryMarshal.GetReference(values), padded);
        if (rented is not null)
        {
            ArrayPool<float>.Shared.Return(rented);
        }

        return sum;
    }

    /// <summary>
    /// destination[i] = (source[i]·scale)·weight_i for i &lt; <paramref name="length"/>, the weight as
    /// <typeparamref name="TWeighting"/> takes it; source and destination are the same memory or apart.
    /// </summary>
    public static void Scale<TWeighting>(ref float source, ref float destination, int length, float scale, ref float weights)
        where TWeighting : IWeighting
    {
        int count = TOps.Count;
        if (length < count)
        {
            for (int i = 0; i < length; i++)
            {
                Unsafe.Add(ref destination, i) = TWeighting.Apply(Unsafe.Add(ref source, i) * scale, ref Unsafe.Add(ref weights, i));
            }

            return;
        }

        // The final block ends at the end and may overlap its predecessor: it is computed before anything is stored.
        TVector factor = TOps.Broadcast(BitConverter.SingleToUInt32Bits(scale));
        nuint last = (nuint)(length - count);
        TVector tail = Block<TWeighting>(ref source, ref weights, last, factor);
        for (nuint i = 0; i < last; i += (nuint)count)
        {
            TOps.Store(Block<TWeighting>(ref source, ref weights, i, factor), ref Unsafe.Add(ref destination, i));
        }

        TOps.Store(tail, ref Unsafe.Add(ref destination, last));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Block<TWeighting>(ref float source, ref float weights, nuint offset, TVector factor)
        where TWeighting : IWeighting =>
        TWeighting.Apply<TOps, TVector>(TOps.Multiply(TOps.Load(ref Unsafe.Add(ref source, offset)), factor), ref Unsafe.Add(ref weights, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector AddSquares(TVector sum, ref float head, nuint offset)
    {
        TVector values = TOps.Load(ref Unsafe.Add(ref head, offset));
        return TOps.Add(sum, TOps.Multiply(values, values));
    }
}

/// <summary>How a normalized value meets its weight.</summary>
internal interface IWeighting
{
    /// <summary>One value; the weight is read by reference (none is there without weights).</summary>
    static abstract float Apply(float scaled, ref float weight);

    static abstract TVector Apply<TOps, TVector>(TVector scaled, ref float weights)
        where TOps : IVectorOps<TVector>
        where TVector : struct;
}

/// <summary>(x·scale)·w: Llama, Qwen3, OLMo 2.</summary>
internal readonly struct TimesWeight : IWeighting
{
    public static float Apply(float scaled, ref float weight) => scaled * weight;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Apply<TOps, TVector>(TVector scaled, ref float weights)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.Multiply(scaled, TOps.Load(ref weights));
}

/// <summary>(x·scale)·(1 + w), 1 + w rounded to float32 first: Gemma.</summary>
internal readonly struct TimesOnePlusWeight : IWeighting
{
    public static float Apply(float scaled, ref float weight) => scaled * (1f + weight);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Apply<TOps, TVector>(TVector scaled, ref float weights)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        TOps.Multiply(scaled, TOps.Add(TOps.Broadcast(0x3F80_0000), TOps.Load(ref weights)));
}

/// <summary>x·scale alone.</summary>
internal readonly struct Unweighted : IWeighting
{
    public static float Apply(float scaled, ref float weight) => scaled;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Apply<TOps, TVector>(TVector scaled, ref float weights)
        where TOps : IVectorOps<TVector>
        where TVector : struct =>
        scaled;
}
