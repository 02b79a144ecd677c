using Rope.Simd.Samples.LlamaDecoder.Gguf;

namespace Rope.Simd.Samples.LlamaDecoder.Model;

/// <summary>One transformer block's weights; every matrix is [output rows][input features], float32.</summary>
/// <param name="QueryKeyValue">The query, key and value projections stacked: rows [query heads | key heads | value heads] × head dim,
/// so that one product writes the packed QKV buffer the fused Rope.Simd call takes.</param>
/// <param name="QueryNorm">Qwen3's per-head RMS norm weights of the queries (head dim), or null.</param>
/// <param name="KeyNorm">The same for the keys, or null.</param>
public sealed record LlamaLayer(
    float[] AttentionNorm, float[] QueryKeyValue, float[]? QueryNorm, float[]? KeyNorm, float[] AttentionOutput,
    float[] FeedForwardNorm, float[] Gate, float[] Up, float[] Down);

/// <summary>
/// A LLaMA-family model from a GGUF file (dense llama, which includes Mistral's, and qwen3): hyperparameters from the
/// file's metadata, the rotary part from Rope.Simd's <see cref="GgufConfig"/>, weights widened to float32.
/// </summary>
public sealed class LlamaModel
{
    private LlamaModel(GgufRopeModel rope, int embedding, int feedForward, int vocabulary, float normEpsilon, bool halfWeights, float[] tokenEmbedding,
        float[] outputNorm, float[] output, LlamaLayer[] layers)
    {
        Rope = rope;
        EmbeddingLength = embedding;
        FeedForwardLength = feedForward;
        VocabularySize = vocabulary;
        NormEpsilon = normEpsilon;
        HalfWeights = halfWeights;
        TokenEmbedding = tokenEmbedding;
        OutputNorm = outputNorm;
        Output = output;
        Layers = layers;
    }

    /// <summary>Architecture, heads, layout and frequencies (with llama3's rope_freqs or YaRN) as llama.cpp reads them.</summary>
    public GgufRopeModel Rope { get; }

    public int EmbeddingLength { get; }

    public int FeedForwardLength { get; }

    public int VocabularySize { get; }

    public float NormEpsilon { get; }

    public int HeadDim => Rope.Configuration.HeadDim;

    public int QueryHeads => Rope.QueryHeads;

    public int KeyValueHeads => Rope.KeyValueHeads;

    /// <summary>Whether the file stores its matrices as float16: the decoder then rounds each product's input to float16, as llama.cpp does.</summary>
    public bool HalfWeights { get; }

    public float[] TokenEmbedding { get; }

    public float[] OutputNorm { get; }

    public float[] Output { get; }

    public IReadOnlyList<LlamaLayer> Layers { get; }

    /// <summary>Reads a model, checking every size against the file before anything is allocated for it.</summary>
    /// <exception cref="InvalidDataException">The file is not GGUF, is truncated or malformed, or holds a model this decoder does not run.</exception>
    public static LlamaModel Load(string path)
    {
        GgufRopeModel rope = GgufConfig.Load(path);
        using GgufFile file = GgufFile.Open(path);
        string arch = rope.Architecture;
        // Other architectures differ in more than their rotary part (biases, norms, activations, experts): refused
        // rather than decoded wrongly.
        if (arch is not ("llama" or "qwen3") || file.Int($"{arch}.expert_count", 0) > 0 || file.HasTensor("blk.0.attn_q.bias"))
        {
            throw new InvalidDataException($"{path} is a '{arch}' model{(file.Has($"{arch}.expert_count") ? " with experts" : "")}; this decoder runs "
                + "dense llama and qwen3 files without attention biases.");
        }

        int embedding = Positive(file, $"{arch}.embedding_length"), layerCount = Positive(file, $"{arch}.block_count");
        int feedForward = Positive(file, $"{arch}.feed_forward_length");
        float epsilon = file.Float($"{arch}.attention.layer_norm_rms_epsilon");
        if (!float.IsFinite(epsilon) || epsilon < 0)
        {
            throw new InvalidDataException($"{arch}.attention.layer_norm_rms_epsilon is {epsilon}; it must be finite and not negative.");
        }

        // Every layer has at least 9 tensors: a block count the file does not list is refused before any layer is made.
        if (layerCount > file.TensorCount / 9)
        {
            throw new InvalidDataException($"{arch}.block_count is {layerCount} but the file lists {file.TensorCount} tensors, at least 9 a layer.");
        }

        int headDim = rope.Configuration.HeadDim;
        if (rope.QueryHeads <= 0 || rope.KeyValueHeads <= 0 || rope.QueryHeads % rope.KeyValueHeads != 0)
        {
            throw new InvalidDataException($"{rope.QueryHeads} query heads cannot share {rope.KeyValueHeads} KV heads: the query heads must be a positive "
                + "multiple of the KV heads.");
        }

        int queryWidth = Width(rope.QueryHeads, headDim, "query"), keyWidth = Width(rope.KeyValueHeads, headDim, "KV");
        // The stacked QKV matrix holds (query + 2 KV) × head dim rows of the embedding.
        if (((long)queryWidth + 2L * keyWidth) * embedding > Array.MaxLength)
        {
            throw new InvalidDataException($"The stacked QKV matrix of ({queryWidth} + 2 × {keyWidth}) × {embedding} is larger than an array holds.");
        }

        if (rope.Configuration.Sections is not null)
        {
            throw new InvalidDataException($"{arch} uses multimodal positions; this decoder takes text token ids only.");
        }

        IReadOnlyList<long> embeddingShape = file.Shape("token_embd.weight");
        if (embeddingShape.Count != 2 || embeddingShape[1] is <= 0 or > int.MaxValue)
        {
            throw new InvalidDataException($"Tensor 'token_embd.weight' is [{string.Join(", ", embeddingShape)}]; the model needs [{embedding}, vocabulary].");
        }

        int vocabulary = (int)embeddingShape[1];
        float[] tokenEmbedding = file.ReadFloats("token_embd.weight", embedding, vocabulary);
        // Tied embeddings (no output.weight) reuse the token embedding as the output head.
        float[] output = file.HasTensor("output.weight") ? file.ReadFloats("output.weight", embedding, vocabulary) : tokenEmbedding;
        var layers = new LlamaLayer[layerCount];
        for (int i = 0; i < layerCount; i++)
        {
            string block = $"blk.{i}.";
            float[] query = file.ReadFloats(block + "attn_q.weight", embedding, queryWidth);
            float[] key = file.ReadFloats(block + "attn_k.weight", embedding, keyWidth);
            float[] value = file.ReadFloats(block + "attn_v.weight", embedding, keyWidth);
            float[]? queryNorm = file.HasTensor(block + "attn_q_norm.weight") ? file.ReadFloats(block + "attn_q_norm.weight", headDim) : null;
            float[]? keyNorm = file.HasTensor(block + "attn_k_norm.weight") ? file.ReadFloats(block + "attn_k_norm.weight", headDim) : null;
            layers[i] = new LlamaLayer(
                file.ReadFloats(block + "attn_norm.weight", embedding),
                [.. query, .. key, .. value],
                queryNorm,
                keyNorm,
                file.ReadFloats(block + "attn_output.weight", queryWidth, embedding),
                file.ReadFloats(block + "ffn_norm.weight", embedding),
                file.ReadFloats(block + "ffn_gate.weight", embedding, feedForward),
                file.ReadFloats(block + "ffn_up.weight", embedding, feedForward),
                file.ReadFloats(block + "ffn_down.weight", feedForward, embedding));
        }

        return new LlamaModel(rope, embedding, feedForward, vocabulary, epsilon, file.IsHalf("blk.0.attn_q.weight"), tokenEmbedding,
            file.ReadFloats("output_norm.weight", embedding), output, layers);
    }

    private static int Positive(GgufFile file, string key) =>
        file.Int(key) is var value && value > 0 ? value : throw new InvalidDataException($"{key} is {file.Int(key)}; it must be positive.");

    private static int Width(int heads, int headDim, string kind)
    {
        long width = (long)heads * headDim;
        return width <= int.MaxValue ? (int)width
            : throw new InvalidDataException($"{heads} {kind} heads of {headDim} make rows of {width} elements, more than an array holds.");
    }
}
