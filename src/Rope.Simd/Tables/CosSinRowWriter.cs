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
/// n mod 4 then swaps and negates sin r and cos r. All of it runs on <see cref="Vector{T}"/> of double.
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
        Span<double> cosLanes = stackalloc double[lanes];
        Span<double> sinLanes = stackalloc double[lanes];
        ref double high = ref MemoryMarshal.GetArrayDataReference(turns.High);
        ref double low = ref MemoryMarshal.GetArrayDataReference(turns.Low);

        for (int row = 0; row < count; row++)
        {
            var position = new Vector<double>((double)firstPosition + row);
            Span<float> output = destination.Slice(row * rowLength, rowLength);
            for (int pair = 0; pair < pairCount; pair += lanes)
            {
                var turnsHigh = Vector.LoadUnsafe(ref high, (nuint)pair);
                var turnsLow = Vector.LoadUnsafe(ref low, (nuint)pair);
                CosSin(position, turnsHigh, turnsLow, out var cos, out var sin);
                cos.CopyTo(cosLanes);
                sin.CopyTo(sinLanes);

                int valid = Math.Min(lanes, pairCount - pair);
                Span<float> pairs = output.Slice(pair * 2, valid * 2);
                for (int lane = 0; lane < valid; lane++)
                {
                    pairs[lane * 2] = (float)cosLanes[lane];
                    pairs[lane * 2 + 1] = (float)sinLanes[lane];
                }
            }
        }
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
        var (sinR, cosR) = Vector.SinCos(remainderTurns * AngleTurns.TwoPiHigh);

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
