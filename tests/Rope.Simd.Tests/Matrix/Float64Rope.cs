using Rope.Simd;

namespace Rope.Simd.Tests.Matrix;

/// <summary>
/// The matrix test's oracle, written from the formulas alone (it shares no code with the library or with
/// <see cref="RopeReference"/>): rotation of a pair (a, b) by cos c and sin s to (a·c − b·s, a·s + b·c) in double, the
/// RMS norm of a head in double, and the documented bounds that a float32 or 16-bit result must meet.
/// </summary>
internal static class Float64Rope
{
    /// <summary>2^-23: the float32 unit the bounds of docs/accuracy.md are stated in.</summary>
    public static readonly double FloatUnit = Math.ScaleB(1, -23);

    /// <summary>Slack for results near float32's subnormals (the bounds add 2^-147, or a few subnormal units).</summary>
    public static readonly double Slack = Math.ScaleB(1, -146);

    /// <summary>ω_i = base^(−2i / rotaryDim), the standard schedule.</summary>
    public static double[] InverseFrequencies(int rotaryDim, double @base) =>
        [.. Enumerable.Range(0, rotaryDim / 2).Select(i => Math.Pow(@base, -2.0 * i / rotaryDim))];

    /// <summary>Where the two elements of pair <paramref name="pair"/> lie in a head.</summary>
    public static (int First, int Second) PairIndices(int pair, int rotaryDim, RopeLayout layout) =>
        layout == RopeLayout.Interleaved ? (2 * pair, 2 * pair + 1) : (pair, pair + rotaryDim / 2);

    /// <summary>
    /// One head normalized in double, in place: x·w / sqrt(mean(x²) + ε), w the weight, 1 + the weight or 1 per
    /// <paramref name="norm"/>; unchanged without a norm.
    /// </summary>
    public static void Normalize(Span<double> head, NormKind norm, float[] weights, float epsilon)
    {
        if (norm == NormKind.None)
        {
            return;
        }

        double sum = 0;
        foreach (double x in head)
        {
            sum += x * x;
        }

        double scale = 1 / Math.Sqrt((sum / head.Length) + epsilon);
        for (int i = 0; i < head.Length; i++)
        {
            double weight = norm switch
            {
                NormKind.Weight => weights[i],
                NormKind.OnePlusWeight => 1 + (double)weights[i],
                _ => 1,
            };
            head[i] = head[i] * scale * weight;
        }
    }

    /// <summary>
    /// The exact rotation of one (normalized) head, in place: <paramref name="cos"/> and <paramref name="sin"/> per
    /// pair; every element's magnitude M (the larger of its pair's, or itself past the rotary dim) goes to
    /// <paramref name="magnitudes"/>.
    /// </summary>
    public static void Rotate(Span<double> head, int rotaryDim, RopeLayout layout, ReadOnlySpan<double> cos, ReadOnlySpan<double> sin, bool inverse,
        Span<double> magnitudes)
    {
        for (int i = 0; i < head.Length; i++)
        {
            magnitudes[i] = Math.Abs(head[i]);
        }

        for (int pair = 0; pair < rotaryDim / 2; pair++)
        {
            (int i, int j) = PairIndices(pair, rotaryDim, layout);
            double a = head[i], b = head[j], c = cos[pair], s = inverse ? -sin[pair] : sin[pair];
            head[i] = (a * c) - (b * s);
            head[j] = (a * s) + (b * c);
            magnitudes[i] = magnitudes[j] = Math.Max(Math.Abs(a), Math.Abs(b));
        }
    }

    /// <summary>
    /// The results the bound allows for an exact result <paramref name="exact"/> of magnitude
    /// <paramref name="magnitude"/>: for float32, within E = <paramref name="units"/>·2^-23·M of it; for a 16-bit type
    /// (per <paramref name="type"/>), the exact value rounded or, where a rounding boundary lies within E of it, any value
    /// from round(exact − E) to round(exact + E).
    /// </summary>
    public static (double Low, double High) Allowed(ElementKind type, double exact, double magnitude, double units)
    {
        double error = (units * FloatUnit * magnitude) + Slack;
        return type == ElementKind.Single ? (exact - error, exact + error) : (Round(type, exact - error), Round(type, exact + error));
    }

    /// <summary><paramref name="value"/> rounded once to the type, to nearest even (double → the type, no float32 between).</summary>
    public static double Round(ElementKind type, double value)
    {
        (int mantissaBits, int minExponent, double max) = type switch
        {
            ElementKind.BFloat16 => (7, -126, (double)(float)BFloat16.MaxValue),
            ElementKind.Half => (10, -14, (double)Half.MaxValue),
            _ => (23, -126, (double)float.MaxValue),
        };
        if (value == 0 || !double.IsFinite(value))
        {
            return value;
        }

        int exponent = Math.Max(Math.ILogB(value), minExponent);
        double unit = Math.ScaleB(1, exponent - mantissaBits);
        double rounded = Math.Round(value / unit, MidpointRounding.ToEven) * unit;
        // Past the largest finite value by half a unit or more rounds to infinity.
        return Math.Abs(rounded) > max ? double.CopySign(double.PositiveInfinity, value) : rounded;
    }
}

/// <summary>The three element types, as an axis of the matrix.</summary>
public enum ElementKind
{
    Single,
    BFloat16,
    Half,
}

/// <summary>A head norm, as an axis of the matrix.</summary>
public enum NormKind
{
    None,
    Weight,
    OnePlusWeight,
    Unweighted,
}
