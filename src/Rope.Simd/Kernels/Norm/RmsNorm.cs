using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd.Kernels;

/// <summary>
/// RMS normalization of one head of float32 values on the ISA of <typeparamref name="TOps"/>, in an order that is the
/// same on every path, so the scale and every normalized value are the same bits everywhere.
/// </summary>
/// <remarks>
/// The sum of squares keeps <see cref="Partials"/> partial sums: element i's square (rounded) is added to partial
/// i mod 16, in order of i; the partials are then folded by halves (p[j] += p[j + 8] for j &lt; 8, then + 4, + 2,
/// + 1). A 512-bit register holds the 16 partials, narrower paths hold them in 2, 4 or 8 registers, and the fold runs
/// on scalars. The scale is 1 / sqrt(sum / n + ε), each step one rounded float32 operation; a value becomes
/// (x·scale)·w, two roundings, w being the weight, 1 + w (rounded) or absent.
/// </remarks>
internal static class RmsNorm<TOps, TVector>
    where TOps : IVectorOps<TVector>
    where TVector : struct
{
    /// <summary>Partial sums of the canonical order.</summary>
    public const int Partials = 16;

    /// <summary>1 / sqrt(mean(x²) + ε) over the <paramref name="length"/> values at <paramref name="head"/>.</summary>
    public static float InverseRms(ref float head, int length, float epsilon) =>
        1f / MathF.Sqrt(SumOfSquares(ref head, length) / length + epsilon);

    /// <summary>Σ x² in the canonical order (see the type's remarks).</summary>
    [SkipLocalsInit]
    public static float SumOfSquares(ref float head, int length)
    {
        int count = TOps.Count, registers = Partials / count;
        TVector sum0 = default, sum1 = default, sum2 = default, sum3 = default, sum4 = default, sum5 = default, sum6 = default, sum7 = default;
        int whole = length - length % Partials;
        for (nuint i = 0; i < (nuint)whole; i += Partials)
        {
            sum0 = AddSquares(sum0, ref head, i);
            if (registers > 1)
            {
                sum1 = AddSquares(sum1, ref head, i + (nuint)count);
            }

            if (registers > 2)
            {
                sum2 = AddSquares(sum2, ref head, i + 2 * (nuint)count);
                sum3 = AddSquares(sum3, ref head, i + 3 * (nuint)count);
            }

            if (registers > 4)
            {
                sum4 = AddSquares(sum4, ref head, i + 4 * (nuint)count);
                sum5 = AddSquares(sum5, ref head, i + 5 * (nuint)count);
                sum6 = AddSquares(sum6, ref head, i + 6 * (nuint)count);
                sum7 = AddSquares(sum7, ref head, i + 7 * (nuint)count);
            }
        }

        Span<float> partials = stackalloc float[Partials];
        ref float partial = ref MemoryMarshal.GetReference(partials);
        TOps.Store(sum0, ref partial);
        if (registers > 1)
        {
            TOps.Store(sum1, ref Unsafe.Add(ref partial, count));
        }

        if (registers > 2)
        {
            TOps.Store(sum2, ref Unsafe.Add(ref partial, 2 * count));
            TOps.Store(sum3, ref Unsafe.Add(ref partial, 3 * count));
        }

        if (registers > 4)
        {
            TOps.Store(sum4, ref Unsafe.Add(ref partial, 4 * count));
            TOps.Store(sum5, ref Unsafe.Add(ref partial, 5 * count));
            TOps.Store(sum6, ref Unsafe.Add(ref partial, 6 * count));
            TOps.Store(sum7, ref Unsafe.Add(ref partial, 7 * count));
        }

        for (int i = whole; i < length; i++)
        {
            float value = Unsafe.Add(ref head, i);
            partials[i - whole] += value * value;
        }

        for (int width = Partials / 2; width > 0; width /= 2)
        {
            for (int j = 0; j < width; j++)
            {
                partials[j] += partials[j + width];
            }
        }

        return partials[0];
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
