using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd.Tables;

/// <summary>
/// Writes float32 rows [cos ω_0·p, sin ω_0·p, cos ω_1·p, sin ω_1·p, ...] with each entry within one float32 ulp
/// of the exact value (in practice correctly rounded almost always).
/// </summary>
/// <remarks>
/// Per position p and pair i: the angle in turns, p·(H_i + L_i), is formed exactly as a double-double
/// (FMA recovers the rounding of p·H_i), rounded to the nearest quarter turn n, and the remainder
/// r ∈ [-1/8, 1/8] turn is converted to radians and passed to the vectorized double SinCos. The quadrant
/// n mod 4 then swaps and negates sin r and cos r. All of it runs on <see cref="Vector{T}"/> of double; since the
/// reduction is already done, sin and cos of r are plain polynomials (the fdlibm kernel coefficients for
/// |r| ≤ π/4, accurate to about 1 ulp in double, far below float32 resolution).
/// </remarks>
internal static class CosSinRowWriter
{
    // Adding 1.5·2^52 to an integral double leaves the integer in the low mantissa bits (two's complement).
    private const double IntegerMagic = 6755399441055744.0;

    [SkipLocalsInit]
    public static void WriteRows(AngleTurns turns, int pairCount, int firstPosition, int count, Span<float> destination)
    {
        int rowLength = pairCount * 2;
        int lanes = Vector<double>.Count;
        // Narrowed lanes: cos of each pair in the low half, sin in the high half.
        Span<float> narrowed = stackalloc float[2 * lanes];
        ref float narrowedCos = ref MemoryMarshal.GetReference(narrowed);
        ref double high = ref MemoryMarshal.GetArrayDataReference(turns.High);
        ref double low = ref MemoryMarshal.GetArrayDataReference(turns.Low);

        for (int row = 0; row < count; row++)
        {
            var position = new Vector<double>((double)firstPosition + row);
            ref float output = ref MemoryMarshal.GetReference(destination.Slice(row * rowLength, rowLength));
            for (int pair = 0; pair < pairCount; pair += lanes)
            {
                var turnsHigh = Vector.LoadUnsafe(ref high, (nuint)pair);
                var turnsLow = Vector.LoadUnsafe(ref low, (nuint)pair);
                CosSin(position, turnsHigh, turnsLow, out var cos, out var sin);
                Vector.Narrow(cos, sin).StoreUnsafe(ref narrowedCos);

                int valid = Math.Min(lanes, pairCount - pair);
                ref float pairs = ref Unsafe.Add(ref output, 2 * pair);
                for (int lane = 0; lane < valid; lane++)
                {
                    Unsafe.Add(ref pairs, 2 * lane) = Unsafe.Add(ref narrowedCos, lane);
                    Unsafe.Add(ref pairs, 2 * lane + 1) = Unsafe.Add(ref narrowedCos, lanes + lane);
                }
            }
        }
    }

    /// <summary>sin r and cos r for |r| ≤ π/4 (plus rounding), by the fdlibm minimax polynomials in r².</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector<double> Sin, Vector<double> Cos) SinCosQuarterTurn(Vector<double> r)
    {
        var z = r * r;
        var sinPoly = Vector.FusedMultiplyAdd(z, new Vector<double>(1.58969099521155010221e-10), new Vector<double>(-2.50507602534068634195e-08));
        sinPoly = Vector.FusedMultiplyAdd(z, sinPoly, new Vector<double>(2.75573137070700676789e-06));
        sinPoly = Vector.FusedMultiplyAdd(z, sinPoly, new Vector<double>(-1.98412698298579493134e-04));
        sinPoly = Vector.FusedMultiplyAdd(z, sinPoly, new Vector<double>(8.33333333332248946124e-03));
        sinPoly = Vector.FusedMultiplyAdd(z, sinPoly, new Vector<double>(-1.66666666666666324348e-01));
        var sin = Vector.FusedMultiplyAdd(r * z, sinPoly, r);

        var cosPoly = Vector.FusedMultiplyAdd(z, new Vector<double>(-1.13596475577881948265e-11), new Vector<double>(2.08757232129817482790e-09));
        cosPoly = Vector.FusedMultiplyAdd(z, cosPoly, new Vector<double>(-2.75573143513906633035e-07));
        cosPoly = Vector.FusedMultiplyAdd(z, cosPoly, new Vector<double>(2.48015872894767294178e-05));
        cosPoly = Vector.FusedMultiplyAdd(z, cosPoly, new Vector<double>(-1.38888888888741095749e-03));
        cosPoly = Vector.FusedMultiplyAdd(z, cosPoly, new Vector<double>(4.16666666666666019037e-02));
        var cos = Vector.FusedMultiplyAdd(z * z, cosPoly, Vector.FusedMultiplyAdd(z, new Vector<double>(-0.5), Vector<double>.One));
        return (sin, cos);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CosSin(Vector<double> position, Vector<double> turnsHigh, Vector<double> turnsLow,
        out Vector<double> cos, out Vector<double> sin)
    {
        var productHigh = position * turnsHigh;
        var productError = Vector.FusedMultiplyAdd(position, turnsHigh, -productHigh);
        var quarterTurns = Vector.Round(productHigh * 4.0);
        // productHigh - quarterTurns/4 is exact: both are doubles and the difference is below 1/8 turn.
        var remainderTurns = (productHigh - quarterTurns * 0.25) + (productError + position * turnsLow);
        var (sinR, cosR) = SinCosQuarterTurn(remainderTurns * AngleTurns.TwoPiHigh);

        var quadrant = Vector.AsVectorInt64(quarterTurns + new Vector<double>(IntegerMagic)) & new Vector<long>(3);
        var odd = Vector.Equals(quadrant & Vector<long>.One, Vector<long>.One);
        // angle = n·π/2 + r: odd quadrants swap cos and sin; cos is negated in quadrants 1 and 2, sin in 2 and 3.
        var cosMagnitude = Vector.ConditionalSelect(odd, sinR, cosR);
        var sinMagnitude = Vector.ConditionalSelect(odd, cosR, sinR);
        var negateCos = Vector.Equals((quadrant + Vector<long>.One) & new Vector<long>(2), new Vector<long>(2));
        var negateSin = Vector.Equals(quadrant & new Vector<long>(2), new Vector<long>(2));
        cos = Vector.ConditionalSelect(negateCos.As<long, double>(), -cosMagnitude, cosMagnitude);
        sin = Vector.ConditionalSelect(negateSin.As<long, double>(), -sinMagnitude, sinMagnitude);
    }
}
