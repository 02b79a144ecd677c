using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// A plain double-precision implementation of RoPE, written to be obviously right rather than fast, and sharing no
/// code with the table builder or the kernels. It is the oracle the tests and benchmarks measure every path against,
/// and a way for callers to check a port of a model.
/// </summary>
/// <remarks>
/// Angles are p·ω_i in double and cos/sin come from <see cref="Math.Cos"/> and <see cref="Math.Sin"/>: at position
/// 2^20 the double angle is within about 1e-10 rad of the exact product, far below float32 resolution.
/// </remarks>
public static class RopeReference
{
    /// <summary>ω_i = 1 / base^(2i / rotaryDim) for i in [0, rotaryDim/2), as in Meta's <c>precompute_freqs_cis</c>.</summary>
    public static double[] InverseFrequencies(int rotaryDim, double @base = RopeFrequencies.DefaultBase)
    {
        Guard.RotaryDim(rotaryDim);
        RopeFrequencies.CheckBase(@base, nameof(@base));
        var frequencies = new double[rotaryDim / 2];
        for (int i = 0; i < frequencies.Length; i++)
        {
            frequencies[i] = 1.0 / Math.Pow(@base, 2.0 * i / rotaryDim);
        }

        return frequencies;
    }

    /// <summary>
    /// Rotates packed <c>[tokens][heads][headDim]</c> float32 activations in double precision into <paramref name="result"/>.
    /// </summary>
    /// <param name="values">Input, tokens·heads·headDim floats.</param>
    /// <param name="result">Output, same length; pass-through elements are copied.</param>
    /// <param name="heads">Heads per token.</param>
    /// <param name="headDim">Elements per head, at least twice the number of frequencies.</param>
    /// <param name="positions">One position per token (the token count is its length).</param>
    /// <param name="inverseFrequencies">ω_i, one per pair; rotaryDim is twice their count.</param>
    /// <param name="layout">Pair layout.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <param name="attentionFactor">A, multiplying cos and sin (see <see cref="RopeFrequencies.AttentionFactor"/>); 1 unless given.</param>
    public static void Rotate(ReadOnlySpan<float> values, Span<double> result, int heads, int headDim,
        ReadOnlySpan<int> positions, ReadOnlySpan<double> inverseFrequencies, RopeLayout layout, bool inverse = false, double attentionFactor = 1.0)
    {
        Guard.NonNegative(heads);
        Guard.PositiveEven(headDim);
        int pairs = inverseFrequencies.Length;
        int rotaryDim = 2 * pairs;
        long length = (long)positions.Length * heads * headDim;
        if (rotaryDim > headDim)
        {
            throw new ArgumentException($"Rotary dim {rotaryDim} exceeds head dim {headDim}.", nameof(inverseFrequencies));
        }

        if (values.Length != length || result.Length != length)
        {
            throw new ArgumentException(
                $"values and result must both hold {positions.Length} × {heads} × {headDim} = {length} elements.", nameof(values));
        }

        for (int i = 0; i < values.Length; i++)
        {
            result[i] = values[i];
        }

        for (int token = 0; token < positions.Length; token++)
        {
            for (int head = 0; head < heads; head++)
            {
                int start = (token * heads + head) * headDim;
                for (int pair = 0; pair < pairs; pair++)
                {
                    double angle = positions[token] * inverseFrequencies[pair];
                    double cos = attentionFactor * Math.Cos(angle);
                    double sin = attentionFactor * (inverse ? -Math.Sin(angle) : Math.Sin(angle));
                    int first = layout == RopeLayout.Interleaved ? start + 2 * pair : start + pair;
                    int second = layout == RopeLayout.Interleaved ? first + 1 : first + pairs;
                    double a = values[first];
                    double b = values[second];
                    result[first] = a * cos - b * sin;
                    result[second] = a * sin + b * cos;
                }
            }
        }
    }
}
