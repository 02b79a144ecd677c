namespace Rope.Simd;

/// <summary>
/// How the two elements that one angle rotates are placed inside the rotary slice of a head.
/// </summary>
/// <remarks>
/// For pair index i in [0, rotaryDim/2) with angle θ_i = position · ω_i, a pair (a, b) becomes
/// (a·cos θ_i − b·sin θ_i, a·sin θ_i + b·cos θ_i). The layouts differ only in where a and b sit.
/// </remarks>
public enum RopeLayout
{
    /// <summary>
    /// Pair i is (x[2i], x[2i+1]). Also called GPT-J style, ggml mode 0 (NORMAL), Meta LLaMA reference
    /// (complex view), ONNX <c>interleaved=1</c>, vLLM <c>is_neox_style=False</c>, MLX <c>traditional=True</c>.
    /// </summary>
    Interleaved,

    /// <summary>
    /// Pair i is (x[i], x[i + rotaryDim/2]). Also called GPT-NeoX style, Hugging Face <c>rotate_half</c>,
    /// ggml mode 2 (NEOX), ONNX <c>interleaved=0</c>, vLLM <c>is_neox_style=True</c>.
    /// </summary>
    HalfSplit,
}
