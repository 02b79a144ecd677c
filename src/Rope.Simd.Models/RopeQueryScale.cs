namespace Rope.Simd.Models;

/// <summary>
/// The query scale of rope_parameters' <c>llama_4_scaling_beta</c>: the query of the token at position p is multiplied by
/// 1 + β·ln(1 + ⌊p / L⌋), L the original context length (original_max_position_embeddings), before attention, on top of
/// the rotation (transformers' Ministral 3 attention; it grows by steps of L, so positions within the original context
/// keep factor 1).
/// </summary>
/// <param name="Beta">β, llama_4_scaling_beta.</param>
/// <param name="OriginalMaxPositionEmbeddings">L.</param>
/// <exception cref="ArgumentOutOfRangeException">β is negative or not finite, or L is not positive.</exception>
public sealed record RopeQueryScale(double Beta, int OriginalMaxPositionEmbeddings)
{
    /// <summary>β, llama_4_scaling_beta: finite and not negative.</summary>
    public double Beta
    {
        get;
        init => field = CheckBeta(value);
    } = CheckBeta(Beta);

    /// <summary>L, the original context length: positive.</summary>
    public int OriginalMaxPositionEmbeddings
    {
        get;
        init => field = CheckLength(value);
    } = CheckLength(OriginalMaxPositionEmbeddings);

    /// <summary>1 + β·ln(1 + ⌊position / L⌋).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The position is negative.</exception>
    public double Factor(long position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        return 1 + Beta * Math.Log(1 + Math.Floor((double)position / OriginalMaxPositionEmbeddings));
    }

    private static double CheckBeta(double beta) => double.IsFinite(beta) && beta >= 0
        ? beta
        : throw new ArgumentOutOfRangeException(nameof(Beta), beta, "Must be finite and not negative.");

    private static int CheckLength(int length) => length > 0
        ? length
        : throw new ArgumentOutOfRangeException(nameof(OriginalMaxPositionEmbeddings), length, "Must be positive (the original context length).");
}
