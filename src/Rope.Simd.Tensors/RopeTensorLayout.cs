namespace Rope.Simd.Tensors;

/// <summary>The order of a query or key tensor's dimensions; the head dimension is always last.</summary>
public enum RopeTensorLayout
{
    /// <summary>
    /// <c>[tokens, heads, headDim]</c>, or <c>[batch, tokens, heads, headDim]</c> with a batch (ONNX's 3D input once
    /// split into heads, Hugging Face before the head transpose, llama.cpp, vLLM).
    /// </summary>
    Bshd,

    /// <summary><c>[heads, tokens, headDim]</c>, or <c>[batch, heads, tokens, headDim]</c> (ONNX's 4D input, Hugging Face after the transpose).</summary>
    Bhsd,
}
