using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// The RMS normalization each head gets before it is rotated (QK norm: Qwen3, Gemma 3, OLMo 2 and others normalize
/// queries and keys per head): y_i = x_i / sqrt(mean(x²) + ε) · w_i over the whole head dim, the rotation then
/// applied to the rotary part. <see cref="None"/> (the default) leaves the heads as they are.
/// </summary>
/// <remarks>
/// Computed in float32 with the same bits on every path: the squares are summed in a fixed order (element i into
/// partial i mod 16, then the 16 partials folded by halves), then scale = 1 / sqrt(sum / headDim + ε) and
/// y_i = (x_i·scale)·w_i, each step one rounded float32 operation (the order Hugging Face's RMSNorm uses; 16-bit
/// activations are widened exactly and rounded once, after the rotation). The weights are read where they lie on
/// every call.
/// </remarks>
public readonly ref struct RopeHeadNorm
{
    private RopeHeadNorm(ReadOnlySpan<float> weight, float epsilon, RopeHeadNormKind kind)
    {
        if (!float.IsFinite(epsilon) || epsilon < 0)
        {
            Guard.ThrowOutOfRange(nameof(epsilon), epsilon, "Must be finite and not negative (models use 1e-6 or 1e-5).");
        }

        Weight = weight;
        Epsilon = epsilon;
        Kind = kind;
    }

    /// <summary>No normalization: the heads are rotated as they are.</summary>
    public static RopeHeadNorm None => default;

    /// <summary>y_i = x_i / sqrt(mean(x²) + ε) · w_i (Llama-style RMSNorm: Qwen3, OLMo 2).</summary>
    /// <param name="weight">One weight per element of a head: exactly the head dim of the tensor it is used on.</param>
    /// <param name="epsilon">ε: finite, not negative.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative, infinite or NaN.</exception>
    public static RopeHeadNorm Rms(ReadOnlySpan<float> weight, float epsilon) => new(weight, epsilon, RopeHeadNormKind.Weight);

    /// <summary>y_i = x_i / sqrt(mean(x²) + ε) · (1 + w_i), 1 + w_i rounded to float32 (Gemma's RMSNorm, whose weights are stored as w = scale − 1).</summary>
    /// <param name="weight">One weight per element of a head: exactly the head dim of the tensor it is used on.</param>
    /// <param name="epsilon">ε: finite, not negative.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative, infinite or NaN.</exception>
    public static RopeHeadNorm RmsOnePlusWeight(ReadOnlySpan<float> weight, float epsilon) => new(weight, epsilon, RopeHeadNormKind.OnePlusWeight);

    /// <summary>y_i = x_i / sqrt(mean(x²) + ε), with no weight.</summary>
    /// <param name="epsilon">ε: finite, not negative.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative, infinite or NaN.</exception>
    public static RopeHeadNorm RmsUnweighted(float epsilon) => new(default, epsilon, RopeHeadNormKind.Unweighted);

    /// <summary>Whether this normalizes at all (false for <see cref="None"/>).</summary>
    public bool Normalizes => Kind != RopeHeadNormKind.None;

    /// <summary>ε added to the mean of the squares.</summary>
    public float Epsilon { get; }

    internal ReadOnlySpan<float> Weight { get; }

    internal RopeHeadNormKind Kind { get; }
}

/// <summary>What a <see cref="RopeHeadNorm"/> does.</summary>
internal enum RopeHeadNormKind : byte
{
    None,
    Weight,
    OnePlusWeight,
    Unweighted,
}
