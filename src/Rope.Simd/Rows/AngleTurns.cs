namespace Rope.Simd.Rows;

/// <summary>
/// Each inverse frequency ω expressed in turns per position, ω / 2π, as an unevaluated sum of two doubles
/// (about 104 significant bits), padded with zeros to a whole number of the widest double registers the builder uses.
/// </summary>
/// <remarks>
/// Working in turns lets the table builder reduce p · ω modulo a quarter turn exactly: the fractional part of a
/// double is exact, so the only rounding left is relative to the reduced angle itself, which keeps cos and sin
/// accurate to the last float32 bit even where they are tiny (angles close to a multiple of π/2).
/// </remarks>
internal sealed class AngleTurns
{
    // 2π split into a double and its rounding error (2π - High, to double precision).
    internal const double TwoPiHigh = 6.283185307179586;
    internal const double TwoPiLow = 2.4492935982947064e-16;

    // Vector512<double> lanes; a multiple of every Vector<double> width too.
    private const int LaneMultiple = 8;

    public AngleTurns(ReadOnlySpan<double> inverseFrequencies)
    {
        int padded = (inverseFrequencies.Length + LaneMultiple - 1) / LaneMultiple * LaneMultiple;
        High = new double[padded];
        Low = new double[padded];
        for (int i = 0; i < inverseFrequencies.Length; i++)
        {
            double w = inverseFrequencies[i];
            double high = w / TwoPiHigh;
            // w - high·2π, with the product's rounding error recovered by the fused multiply-add.
            double residual = Math.FusedMultiplyAdd(-high, TwoPiHigh, w) - high * TwoPiLow;
            High[i] = high;
            Low[i] = residual / TwoPiHigh;
        }
    }

    public double[] High { get; }

    public double[] Low { get; }
}
