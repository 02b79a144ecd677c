using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Rope.Simd.Rows;

/// <summary>
/// Writes float32 rows [A·cos ω_0·p, A·sin ω_0·p, A·cos ω_1·p, ...] with each entry within one float32 ulp
/// of the exact value (in practice correctly rounded almost always); A is the attention factor, 1 by default.
/// </summary>
/// <remarks>
/// Per position p and pair i: the angle in turns, p·(H_i + L_i), is formed exactly as a double-double
/// (FMA recovers the rounding of p·H_i), rounded to the nearest quarter turn n, and the remainder
/// r ∈ [-1/8, 1/8] turn is converted to radians. Since the reduction is already done, sin r and cos r are plain
/// polynomials (the fdlibm kernel coefficients for |r| ≤ π/4, accurate to about 1 ulp in double, far below float32
/// resolution); the quadrant n mod 4 then swaps and negates them, and one permute puts the narrowed cos and sin lanes
/// in row order. It runs on Vector512 of double where the runtime accelerates it, else on <see cref="Vector{T}"/>;
/// every operation is exactly rounded (fused multiply-adds included), so the table is the same bits on every path.
/// </remarks>
internal static class CosSinRowWriter
{
    public static void WriteRows(AngleTurns turns, int pairCount, double attentionFactor, int firstPosition, int count, Span<float> destination)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            CosSinRowWriter<Vector512DoubleLanes, Vector512<double>>.WriteRows(turns, pairCount, attentionFactor, firstPosition, count, destination);
        }
        else
        {
            CosSinRowWriter<VectorDoubleLanes, Vector<double>>.WriteRows(turns, pairCount, attentionFactor, firstPosition, count, destination);
        }
    }
}

/// <summary>The row writer on one register width; see <see cref="CosSinRowWriter"/>.</summary>
internal static class CosSinRowWriter<TLanes, TVector>
    where TLanes : IDoubleLanes<TVector>
    where TVector : struct
{
    // Adding 1.5·2^52 to an integral double leaves the integer in the low mantissa bits (two's complement).
    private const double IntegerMagic = 6755399441055744.0;

    [SkipLocalsInit]
    public static void WriteRows(AngleTurns turns, int pairCount, double attentionFactor, int firstPosition, int count, Span<float> destination)
    {
        // cos and sin are scaled in double before the one rounding to float32 (exact, and bit-neutral, for A = 1).
        TVector scale = TLanes.Create(attentionFactor);
        int rowLength = pairCount * 2;
        int lanes = TLanes.Count;
        Span<float> scratch = stackalloc float[2 * lanes];
        ref double high = ref MemoryMarshal.GetArrayDataReference(turns.High);
        ref double low = ref MemoryMarshal.GetArrayDataReference(turns.Low);

        // Full registers in the loop (the store there needs no scratch, so no call keeps the loop's vectors on the stack);
        // a final partial register, if any, after it. A = 1 skips the scaling, which would not change a bit.
        int fullPairs = pairCount - pairCount % lanes;
        bool scaled = attentionFactor != 1.0;
        for (int row = 0; row < count; row++)
        {
            TVector position = TLanes.Create((double)firstPosition + row);
            ref float output = ref MemoryMarshal.GetReference(destination.Slice(row * rowLength, rowLength));
            for (int pair = 0; pair < fullPairs; pair += lanes)
            {
                CosSin(position, TLanes.Load(ref Unsafe.Add(ref high, pair)), TLanes.Load(ref Unsafe.Add(ref low, pair)), out TVector cos, out TVector sin);
                if (scaled)
                {
                    (cos, sin) = (TLanes.Multiply(cos, scale), TLanes.Multiply(sin, scale));
                }

                TLanes.StoreInterleaved(cos, sin, ref Unsafe.Add(ref output, 2 * pair), TLanes.Count, scratch);
            }

            if (fullPairs < pairCount)
            {
                CosSin(position, TLanes.Load(ref Unsafe.Add(ref high, fullPairs)), TLanes.Load(ref Unsafe.Add(ref low, fullPairs)), out TVector cos, out TVector sin);
                TLanes.StoreInterleaved(TLanes.Multiply(cos, scale), TLanes.Multiply(sin, scale), ref Unsafe.Add(ref output, 2 * fullPairs),
                    pairCount - fullPairs, scratch);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CosSin(TVector position, TVector turnsHigh, TVector turnsLow, out TVector cos, out TVector sin)
    {
        TVector productHigh = TLanes.Multiply(position, turnsHigh);
        TVector productError = TLanes.FusedMultiplyAdd(position, turnsHigh, TLanes.Negate(productHigh));
        TVector quarterTurns = TLanes.Round(TLanes.Multiply(productHigh, TLanes.Create(4.0)));
        // productHigh - quarterTurns/4 is exact (both are doubles and the difference is below 1/8 turn), fused or not.
        TVector remainderTurns = TLanes.Add(
            TLanes.FusedMultiplyAdd(quarterTurns, TLanes.Create(-0.25), productHigh),
            TLanes.Add(productError, TLanes.Multiply(position, turnsLow)));
        SinCosQuarterTurn(TLanes.Multiply(remainderTurns, TLanes.Create(AngleTurns.TwoPiHigh)), out TVector sinR, out TVector cosR);

        TVector quadrant = TLanes.Add(quarterTurns, TLanes.Create(IntegerMagic));
        TVector nextQuadrant = TLanes.Add(quarterTurns, TLanes.Create(IntegerMagic + 1));
        TVector odd = TLanes.BitsEqual(quadrant, 1, 1);
        // angle = n·π/2 + r: odd quadrants swap cos and sin; cos is negated in quadrants 1 and 2 (bit 1 of n + 1),
        // sin in 2 and 3 (bit 1 of n).
        TVector cosMagnitude = TLanes.Select(odd, sinR, cosR);
        TVector sinMagnitude = TLanes.Select(odd, cosR, sinR);
        cos = TLanes.Select(TLanes.BitsEqual(nextQuadrant, 2, 2), TLanes.Negate(cosMagnitude), cosMagnitude);
        sin = TLanes.Select(TLanes.BitsEqual(quadrant, 2, 2), TLanes.Negate(sinMagnitude), sinMagnitude);
    }

    /// <summary>sin r and cos r for |r| ≤ π/4 (plus rounding), by the fdlibm minimax polynomials in r².</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SinCosQuarterTurn(TVector r, out TVector sin, out TVector cos)
    {
        TVector z = TLanes.Multiply(r, r);
        TVector sinPoly = TLanes.FusedMultiplyAdd(z, TLanes.Create(1.58969099521155010221e-10), TLanes.Create(-2.50507602534068634195e-08));
        sinPoly = TLanes.FusedMultiplyAdd(z, sinPoly, TLanes.Create(2.75573137070700676789e-06));
        sinPoly = TLanes.FusedMultiplyAdd(z, sinPoly, TLanes.Create(-1.98412698298579493134e-04));
        sinPoly = TLanes.FusedMultiplyAdd(z, sinPoly, TLanes.Create(8.33333333332248946124e-03));
        sinPoly = TLanes.FusedMultiplyAdd(z, sinPoly, TLanes.Create(-1.66666666666666324348e-01));
        sin = TLanes.FusedMultiplyAdd(TLanes.Multiply(r, z), sinPoly, r);

        TVector cosPoly = TLanes.FusedMultiplyAdd(z, TLanes.Create(-1.13596475577881948265e-11), TLanes.Create(2.08757232129817482790e-09));
        cosPoly = TLanes.FusedMultiplyAdd(z, cosPoly, TLanes.Create(-2.75573143513906633035e-07));
        cosPoly = TLanes.FusedMultiplyAdd(z, cosPoly, TLanes.Create(2.48015872894767294178e-05));
        cosPoly = TLanes.FusedMultiplyAdd(z, cosPoly, TLanes.Create(-1.38888888888741095749e-03));
        cosPoly = TLanes.FusedMultiplyAdd(z, cosPoly, TLanes.Create(4.16666666666666019037e-02));
        cos = TLanes.FusedMultiplyAdd(TLanes.Multiply(z, z), cosPoly, TLanes.FusedMultiplyAdd(z, TLanes.Create(-0.5), TLanes.Create(1.0)));
    }
}
