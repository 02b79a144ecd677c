using System.Runtime.InteropServices;
using Rope.Simd.Samples.LlamaDecoder.Gguf;

namespace Rope.Simd.Samples.LlamaDecoder.Model;

/// <summary>How <see cref="RandomModel"/> scales the rotary frequencies.</summary>
public enum RandomModelScaling
{
    /// <summary>Plain RoPE at the file's freq_base.</summary>
    None,

    /// <summary>Llama 3.1's schedule (factor 8, low/high frequency factors 1 and 4, original context 8192) carried by a
    /// <c>rope_freqs.weight</c> tensor, as llama.cpp's converter writes it.</summary>
    Llama3,

    /// <summary>YaRN keys: rope.scaling.type "yarn", factor 4, original context a quarter of the context length.</summary>
    Yarn,
}

/// <summary>
/// The shape of a model <see cref="RandomModel.Write"/> makes. Defaults: 2 layers, 8 query heads and 2 KV heads of 64,
/// vocabulary 256 (token ids go in directly: tokenizer "none").
/// </summary>
public sealed record RandomModelOptions
{
    /// <summary>"llama" (llama.cpp rotates interleaved pairs) or "qwen3" (half-split pairs and a per-head RMS norm of queries and keys).</summary>
    public string Architecture { get; init; } = "llama";

    public int Layers { get; init; } = 2;

    public int QueryHeads { get; init; } = 8;

    public int KeyValueHeads { get; init; } = 2;

    public int HeadDim { get; init; } = 64;

    public int FeedForward { get; init; } = 1536;

    public int Vocabulary { get; init; } = 256;

    public int ContextLength { get; init; } = 256;

    public float FreqBase { get; init; } = 10000;

    public RandomModelScaling Scaling { get; init; }

    /// <summary>Matrices (and the embedding) as float16 rather than float32; norms stay float32.</summary>
    public bool HalfWeights { get; init; }

    public int Seed { get; init; } = 1;
}

/// <summary>Writes a LLaMA-family GGUF file with random weights: something to decode, and to compare, without a model hub.</summary>
public static class RandomModel
{
    public static void Write(string path, RandomModelOptions options)
    {
        string arch = options.Architecture;
        if (arch is not ("llama" or "qwen3"))
        {
            throw new ArgumentException($"Architecture '{arch}' is not made here (llama and qwen3 are).", nameof(options));
        }

        int headDim = options.HeadDim, embedding = options.QueryHeads * headDim, keyWidth = options.KeyValueHeads * headDim;
        var random = new Random(options.Seed);
        var writer = new GgufWriter()
            .String("general.architecture", arch)
            .String("general.name", $"random {arch}")
            .UInt32("general.file_type", options.HalfWeights ? 1u : 0u)
            .UInt32($"{arch}.block_count", (uint)options.Layers)
            .UInt32($"{arch}.context_length", (uint)options.ContextLength)
            .UInt32($"{arch}.embedding_length", (uint)embedding)
            .UInt32($"{arch}.feed_forward_length", (uint)options.FeedForward)
            .UInt32($"{arch}.attention.head_count", (uint)options.QueryHeads)
            .UInt32($"{arch}.attention.head_count_kv", (uint)options.KeyValueHeads)
            .UInt32($"{arch}.attention.key_length", (uint)headDim)
            .UInt32($"{arch}.attention.value_length", (uint)headDim)
            .Float32($"{arch}.attention.layer_norm_rms_epsilon", 1e-6f)
            .UInt32($"{arch}.rope.dimension_count", (uint)headDim)
            .Float32($"{arch}.rope.freq_base", options.FreqBase)
            .UInt32($"{arch}.vocab_size", (uint)options.Vocabulary)
            .String("tokenizer.ggml.model", "none");
        if (options.Scaling == RandomModelScaling.Yarn)
        {
            writer.String($"{arch}.rope.scaling.type", "yarn")
                .Float32($"{arch}.rope.scaling.factor", 4)
                .UInt32($"{arch}.rope.scaling.original_context_length", (uint)(options.ContextLength / 4));
        }
        else if (options.Scaling == RandomModelScaling.Llama3)
        {
            writer.Tensor("rope_freqs.weight", GgufWriter.TypeF32, [(ulong)(headDim / 2)], Floats(Llama3Factors(headDim, options.FreqBase)));
        }

        void Matrix(string name, int inputs, int outputs, float scale = 1)
        {
            // Uniform with variance scale²/inputs keeps every layer's activations near unit size.
            float bound = scale * MathF.Sqrt(3f / inputs);
            float[] values = new float[(long)inputs * outputs];
            foreach (ref float value in values.AsSpan())
            {
                value = (float)((random.NextDouble() * 2 - 1) * bound);
            }

            writer.Tensor(name, options.HalfWeights ? GgufWriter.TypeF16 : GgufWriter.TypeF32, [(ulong)inputs, (ulong)outputs],
                options.HalfWeights ? Halves(values) : Floats(values));
        }

        void Norm(string name, int length)
        {
            float[] values = new float[length];
            foreach (ref float value in values.AsSpan())
            {
                value = 1 + (float)((random.NextDouble() * 2 - 1) * 0.2);
            }

            writer.Tensor(name, GgufWriter.TypeF32, [(ulong)length], Floats(values));
        }

        Matrix("token_embd.weight", embedding, options.Vocabulary, scale: MathF.Sqrt(embedding));
        Norm("output_norm.weight", embedding);
        Matrix("output.weight", embedding, options.Vocabulary, scale: 4);
        for (int i = 0; i < options.Layers; i++)
        {
            string block = $"blk.{i}.";
            Norm(block + "attn_norm.weight", embedding);
            Matrix(block + "attn_q.weight", embedding, embedding);
            Matrix(block + "attn_k.weight", embedding, keyWidth);
            Matrix(block + "attn_v.weight", embedding, keyWidth);
            if (arch == "qwen3")
            {
                Norm(block + "attn_q_norm.weight", headDim);
                Norm(block + "attn_k_norm.weight", headDim);
            }

            Matrix(block + "attn_output.weight", embedding, embedding);
            Norm(block + "ffn_norm.weight", embedding);
            Matrix(block + "ffn_gate.weight", embedding, options.FeedForward);
            Matrix(block + "ffn_up.weight", embedding, options.FeedForward);
            Matrix(block + "ffn_down.weight", options.FeedForward, embedding);
        }

        writer.Save(path);
    }

    /// <summary>Llama 3.1's per-pair frequency divisors (factor 8, low 1, high 4, original context 8192).</summary>
    public static float[] Llama3Factors(int headDim, double freqBase)
    {
        const double factor = 8, lowFrequencyFactor = 1, highFrequencyFactor = 4, originalContext = 8192;
        double lowWavelength = originalContext / lowFrequencyFactor, highWavelength = originalContext / highFrequencyFactor;
        var factors = new float[headDim / 2];
        for (int i = 0; i < factors.Length; i++)
        {
            double wavelength = 2 * Math.PI * Math.Pow(freqBase, 2.0 * i / headDim);
            double smooth = (originalContext / wavelength - lowFrequencyFactor) / (highFrequencyFactor - lowFrequencyFactor);
            factors[i] = (float)(wavelength < highWavelength ? 1
                : wavelength > lowWavelength ? factor
                : 1 / ((1 - smooth) / factor + smooth));
        }

        return factors;
    }

    private static byte[] Floats(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static byte[] Halves(float[] values)
    {
        var halves = new Half[values.Length];
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values, halves);
        return MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
    }
}
