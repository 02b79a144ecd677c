using Rope.Simd.Tables;

namespace Rope.Simd;

/// <summary>
/// The inverse frequencies ω_i of a rotary embedding, one per rotated pair, in double precision.
/// Immutable and thread-safe.
/// </summary>
/// <remarks>
/// The angle of pair i at position p is exactly p · ω_i, with ω_i the double stored here; tables built from
/// these frequencies are accurate against that exact product (see <see cref="RopeTable"/>). Tables hold
/// A·cos and A·sin, with A the <see cref="AttentionFactor"/> (1 unless a scaling such as YaRN or LongRoPE sets it).
/// <see cref="RopeScaling"/> builds the scaled schedules of long-context models.
/// </remarks>
public sealed class RopeFrequencies
{
    /// <summary>
    /// The classic RoPE base (θ = 10000) of the RoFormer paper, Meta's LLaMA 1/2 code and most model configs.
    /// Meta's <c>precompute_freqs_cis</c> signature shows 1000.0 in some copies; no published model uses it.
    /// </summary>
    public const double DefaultBase = 10000.0;

    private readonly double[] inverseFrequencies;

    private RopeFrequencies(int rotaryDim, double[] inverseFrequencies, double attentionFactor)
    {
        RotaryDim = rotaryDim;
        this.inverseFrequencies = inverseFrequencies;
        AttentionFactor = attentionFactor;
        Turns = new AngleTurns(inverseFrequencies);
    }

    /// <summary>Number of rotated elements per head (twice the number of pairs).</summary>
    public int RotaryDim { get; }

    /// <summary>Number of rotated pairs, <see cref="RotaryDim"/> / 2.</summary>
    public int PairCount => inverseFrequencies.Length;

    /// <summary>ω_i for i in [0, <see cref="PairCount"/>), in radians per position.</summary>
    public ReadOnlySpan<double> InverseFrequencies => inverseFrequencies;

    /// <summary>A, the factor tables multiply cos and sin by (YaRN's and LongRoPE's attention scaling); 1 by default.</summary>
    public double AttentionFactor { get; }

    /// <summary>The frequencies in turns per position, split for exact angle reduction by the table builder.</summary>
    internal AngleTurns Turns { get; }

    /// <summary>
    /// Standard RoPE frequencies ω_i = 1 / base^(2i / rotaryDim), computed in double.
    /// </summary>
    /// <param name="rotaryDim">Rotated elements per head: positive and even. With partial rotary this is the
    /// rotated slice (e.g. 64 of a 256-wide GPT-J head), and it is the exponent's denominator.</param>
    /// <param name="base">θ, the base ("rope_theta"): finite and positive. Defaults to <see cref="DefaultBase"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">rotaryDim is not positive and even, or base is not finite and positive.</exception>
    public static RopeFrequencies Create(int rotaryDim, double @base = DefaultBase)
    {
        Guard.PositiveEven(rotaryDim);
        if (!double.IsFinite(@base) || @base <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(@base), @base, "The base must be finite and positive.");
        }

        var frequencies = new double[rotaryDim / 2];
        for (int i = 0; i < frequencies.Length; i++)
        {
            frequencies[i] = 1.0 / Math.Pow(@base, 2.0 * i / rotaryDim);
        }

        return new RopeFrequencies(rotaryDim, frequencies, 1.0);
    }

    /// <summary>
    /// Frequencies given explicitly, one per pair (for scaled or learned schedules).
    /// </summary>
    /// <param name="inverseFrequencies">ω_i, radians per position: at least one, each finite and non-negative.
    /// The rotary dim is twice their count.</param>
    /// <param name="attentionFactor">A, multiplying cos and sin in tables: finite and positive; 1 unless given.</param>
    /// <exception cref="ArgumentException">The span is empty or holds a negative, infinite or NaN value, or the attention factor is not finite and positive.</exception>
    public static RopeFrequencies FromInverseFrequencies(ReadOnlySpan<double> inverseFrequencies, double attentionFactor = 1.0)
    {
        if (!double.IsFinite(attentionFactor) || attentionFactor <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(attentionFactor), attentionFactor, "The attention factor must be finite and positive.");
        }

        if (inverseFrequencies.IsEmpty)
        {
            throw new ArgumentException("At least one inverse frequency (one pair) is needed.", nameof(inverseFrequencies));
        }

        for (int i = 0; i < inverseFrequencies.Length; i++)
        {
            double w = inverseFrequencies[i];
            if (!double.IsFinite(w) || w < 0)
            {
                throw new ArgumentException(
                    $"Inverse frequency {i} is {w}; every one must be finite and non-negative.", nameof(inverseFrequencies));
            }
        }

        return new RopeFrequencies(checked(inverseFrequencies.Length * 2), inverseFrequencies.ToArray(), attentionFactor);
    }
}
