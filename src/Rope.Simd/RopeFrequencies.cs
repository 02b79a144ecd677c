using Rope.Simd.Rows;
using Rope.Simd.Validation;

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

    /// <summary>
    /// The largest rotary dim accepted anywhere (16,384 elements per head, 8,192 pairs; published models rotate at most
    /// a few hundred). Sizes are checked against it before anything is allocated.
    /// </summary>
    public const int MaxRotaryDim = 16384;

    /// <summary>
    /// The largest inverse frequency accepted, in radians per position (standard schedules peak at 1 for pair 0).
    /// Below it, p·ω for every position p &lt; 2^31 stays under 2^41 radians, where the table builder's exact angle
    /// reduction, and so the one-ulp guarantee, holds.
    /// </summary>
    public const double MaxInverseFrequency = 1024.0;

    /// <summary>The smallest attention factor accepted, 2^-16: A·cos and A·sin stay normal float32 numbers (accuracy is relative).</summary>
    public const double MinAttentionFactor = 1.0 / 65536;

    /// <summary>The largest attention factor accepted, 2^16 (published models use about 1 to 1.5): rows stay finite in every element type's arithmetic.</summary>
    public const double MaxAttentionFactor = 65536.0;

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
    /// <param name="rotaryDim">Rotated elements per head: positive, even and at most <see cref="MaxRotaryDim"/>. With
    /// partial rotary this is the rotated slice (e.g. 64 of a 256-wide GPT-J head), and it is the exponent's denominator.</param>
    /// <param name="base">θ, the base ("rope_theta"): finite and above 1 (so that every ω_i is at most 1 and the pairs'
    /// frequencies fall from the first to the last). Defaults to <see cref="DefaultBase"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">rotaryDim or base is outside its range.</exception>
    public static RopeFrequencies Create(int rotaryDim, double @base = DefaultBase)
    {
        Guard.RotaryDim(rotaryDim);
        CheckBase(@base, nameof(@base));
        var frequencies = new double[rotaryDim / 2];
        for (int i = 0; i < frequencies.Length; i++)
        {
            frequencies[i] = 1.0 / Math.Pow(@base, 2.0 * i / rotaryDim);
        }

        return new RopeFrequencies(rotaryDim, frequencies, 1.0);
    }

    /// <summary>
    /// Frequencies given explicitly, one per pair (for scaled or learned schedules). The span is copied once and the
    /// copy is what gets checked and kept, so a caller changing it meanwhile cannot slip a value past the checks.
    /// </summary>
    /// <param name="inverseFrequencies">ω_i, radians per position: 1 to <see cref="MaxRotaryDim"/>/2 of them, each in
    /// [0, <see cref="MaxInverseFrequency"/>]. The rotary dim is twice their count.</param>
    /// <param name="attentionFactor">A, multiplying cos and sin in tables: in [<see cref="MinAttentionFactor"/>,
    /// <see cref="MaxAttentionFactor"/>]; 1 unless given.</param>
    /// <exception cref="ArgumentException">The span is empty, too long, or holds a value outside the range (NaN included).</exception>
    /// <exception cref="ArgumentOutOfRangeException">The attention factor is outside its range.</exception>
    public static RopeFrequencies FromInverseFrequencies(ReadOnlySpan<double> inverseFrequencies, double attentionFactor = 1.0)
    {
        CheckAttentionFactor(attentionFactor, nameof(attentionFactor));
        if (inverseFrequencies.IsEmpty || inverseFrequencies.Length > MaxRotaryDim / 2)
        {
            throw ArgumentErrors.Invalid(
                $"{inverseFrequencies.Length} inverse frequencies given; between 1 and {MaxRotaryDim / 2} (one per pair) are accepted.", nameof(inverseFrequencies));
        }

        double[] copy = inverseFrequencies.ToArray();
        if (FirstOutsideDomain(copy) is int bad)
        {
            throw ArgumentErrors.Invalid(
                $"Inverse frequency {bad} is {copy[bad]}; every one must be in [0, {MaxInverseFrequency}] radians per position.", nameof(inverseFrequencies));
        }

        return new RopeFrequencies(copy.Length * 2, copy, attentionFactor);
    }

    /// <summary>The first index whose value is not in [0, <see cref="MaxInverseFrequency"/>], or null.</summary>
    internal static int? FirstOutsideDomain(ReadOnlySpan<double> inverseFrequencies)
    {
        for (int i = 0; i < inverseFrequencies.Length; i++)
        {
            if (!(inverseFrequencies[i] is >= 0 and <= MaxInverseFrequency))
            {
                return i;
            }
        }

        return null;
    }

    /// <summary>Throws unless <paramref name="base"/> is finite and above 1.</summary>
    internal static void CheckBase(double @base, string name)
    {
        if (!(double.IsFinite(@base) && @base > 1))
        {
            throw ArgumentErrors.OutOfRange(name, @base, "The base must be finite and above 1.");
        }
    }

    /// <summary>Throws unless <paramref name="attentionFactor"/> is in [<see cref="MinAttentionFactor"/>, <see cref="MaxAttentionFactor"/>].</summary>
    internal static void CheckAttentionFactor(double attentionFactor, string name)
    {
        if (!(attentionFactor is >= MinAttentionFactor and <= MaxAttentionFactor))
        {
            throw ArgumentErrors.OutOfRange(name, attentionFactor,
                $"The attention factor must be in [2^-16, 2^16] (published models use about 1 to 1.5).");
        }
    }
}
