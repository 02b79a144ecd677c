using Rope.Simd.Models;
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
/// file's metadata and the rotary part (<see cref="GgufFile.ReadRopeModel"/>) read by Rope.Simd.Models' <see cref="GgufFile"/>,
/// weights widened to float32.
/// </summary>
public sealed class LlamaModel
{
    private LlamaModel(RopeModel rope, RopeLayout layout, int embedding, int feedForward, int vocabulary, float normEpsilon, bool halfWeights, float[] tokenEmbedding,
        float[] outputNorm, float[] output, LlamaLayer[] layers)
    {
        Rope = rope;
        Layout = layout;
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
    public RopeModel Rope { get; }

    /// <summary>The pair layout llama.cpp rotates this architecture with.</summary>
    public RopeLayout Layout { get; }

    public int EmbeddingLength { get; }

    public int FeedForwardLength { get; }

    public int VocabularySize { get; }

    public float NormEpsilon { get; }

    public int HeadDim => Rope.HeadDim;

    public int QueryHeads => Rope.QueryHeads!.Value;

    public int KeyValueHeads => Rope.KeyValueHeads!.Value;

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
        using GgufFile file = GgufFile.Open(path);
        RopeModel rope = file.ReadRopeModel();
        string arch = rope.Name;
        // Other architectures differ in more than their rotary part (biases, norms, activations, experts): refused
        // rather than decoded wrongly.
        if (arch is not ("llama" or "qwen3") || Int(file, $"{arch}.expert_count", 0) > 0 || file.Tensors.ContainsKey("blk.0.attn_q.bias"))
        {
            throw new InvalidDataException($"{path} is a '{arch}' model{(file.ContainsKey($"{arch}.expert_count") ? " with experts" : "")}; this decoder runs "
                + "dense llama and qwen3 files without attention biases.");
        }

        int embedding = Positive(file, $"{arch}.embedding_length"), layerCount = Positive(file, $"{arch}.block_count");
        int feedForward = Positive(file, $"{arch}.feed_forward_length");
        string epsilonKey = $"{arch}.attention.layer_norm_rms_epsilon";
        float epsilon = (float)(file.GetNumber(epsilonKey) ?? throw new InvalidDataException($"The GGUF file has no '{epsilonKey}'."));
        if (!float.IsFinite(epsilon) || epsilon < 0)
        {
            throw new InvalidDataException($"{epsilonKey} is {epsilon}; it must be finite and not negative.");
        }

        // Every layer has at least 9 tensors: a block count the file does not list is refused before any layer is made.
        if (layerCount > file.Tensors.Count / 9)
        {
            throw new InvalidDataException($"{arch}.block_count is {layerCount} but the file lists {file.Tensors.Count} tensors, at least 9 a layer.");
        }

        // ReadRopeModel gives both head counts for every GGUF file (the KV heads default to the query heads).
        int headDim = rope.HeadDim, queryHeads = rope.QueryHeads!.Value, keyValueHeads = rope.KeyValueHeads!.Value;
        if (queryHeads % keyValueHeads != 0)
        {
            throw new InvalidDataException($"{queryHeads} query heads cannot share {keyValueHeads} KV heads: the query heads must be a positive "
                + "multiple of the KV heads.");
        }

        int queryWidth = Width(queryHeads, headDim, "query"), keyWidth = Width(keyValueHeads, headDim, "KV");
        // The stacked QKV matrix holds (query + 2 KV) × head dim rows of the embedding.
        if (((long)queryWidth + 2L * keyWidth) * embedding > Array.MaxLength)
        {
            throw new InvalidDataException($"The stacked QKV matrix of ({queryWidth} + 2 × {keyWidth}) × {embedding} is larger than an array holds.");
        }

        if (rope.Sections is not null)
        {
            throw new InvalidDataException($"{arch} uses multimodal positions; this decoder takes text token ids only.");
        }

        IReadOnlyList<long> embeddingShape = Tensor(file, "token_embd.weight").Shape;
        if (embeddingShape.Count != 2 || embeddingShape[1] is <= 0 or > int.MaxValue)
        {
            throw new InvalidDataException($"Tensor 'token_embd.weight' is [{string.Join(", ", embeddingShape)}]; the model needs [{embedding}, vocabulary].");
        }

        int vocabulary = (int)embeddingShape[1];
        float[] tokenEmbedding = ReadFloats(file, "token_embd.weight", embedding, vocabulary);
        // Tied embeddings (no output.weight) reuse the token embedding as the output head.
        float[] output = file.Tensors.ContainsKey("output.weight") ? ReadFloats(file, "output.weight", embedding, vocabulary) : tokenEmbedding;
        var layers = new LlamaLayer[layerCount];
        for (int i = 0; i < layerCount; i++)
        {
            string block = $"blk.{i}.";
            float[] query = ReadFloats(file, block + "attn_q.weight", embedding, queryWidth);
            float[] key = ReadFloats(file, block + "attn_k.weight", embedding, keyWidth);
            float[] value = ReadFloats(file, block + "attn_v.weight", embedding, keyWidth);
            float[]? queryNorm = file.Tensors.ContainsKey(block + "attn_q_norm.weight") ? ReadFloats(file, block + "attn_q_norm.weight", headDim) : null;
            float[]? keyNorm = file.Tensors.ContainsKey(block + "attn_k_norm.weight") ? ReadFloats(file, block + "attn_k_norm.weight", headDim) : null;
            layers[i] = new LlamaLayer(
                ReadFloats(file, block + "attn_norm.weight", embedding),
                [.. query, .. key, .. value],
                queryNorm,
                keyNorm,
                ReadFloats(file, block + "attn_output.weight", queryWidth, embedding),
                ReadFloats(file, block + "ffn_norm.weight", embedding),
                ReadFloats(file, block + "ffn_gate.weight", embedding, feedForward),
                ReadFloats(file, block + "ffn_up.weight", embedding, feedForward),
                ReadFloats(file, block + "ffn_down.weight", feedForward, embedding));
        }

        RopeLayout layout = rope.Layout ?? throw new InvalidDataException($"The pair layout of '{arch}' is not known.");
        return new LlamaModel(rope, layout, embedding, feedForward, vocabulary, epsilon, Tensor(file, "blk.0.attn_q.weight").Type == GgufWriter.TypeF16,
            tokenEmbedding, ReadFloats(file, "output_norm.weight", embedding), output, layers);
    }

    /// <summary>An integer key's value, or <paramref name="fallback"/> where the file has none.</summary>
    /// <exception cref="InvalidDataException">The key is missing without a fallback, not an integer, or outside the int range.</exception>
    private static int Int(GgufFile file, string key, int? fallback = null)
    {
        long? value = file.GetInteger(key);
        return value is null ? fallback ?? throw new InvalidDataException($"The GGUF file has no '{key}'.")
            : value is >= int.MinValue and <= int.MaxValue ? (int)value.Value
            : throw new InvalidDataException($"'{key}' is {value}, outside [{int.MinValue}, {int.MaxValue}].");
    }

    private static int Positive(GgufFile file, string key) =>
        Int(file, key) is var value && value > 0 ? value : throw new InvalidDataException($"{key} is {value}; it must be positive.");

    private static GgufTensor Tensor(GgufFile file, string name) =>
        file.Tensors.TryGetValue(name, out GgufTensor? tensor) ? tensor : throw new InvalidDataException($"The GGUF file has no tensor '{name}'.");

    /// <summary>A float32 or float16 tensor of the expected shape (ne0 first), widened to float32 (exactly).</summary>
    private static float[] ReadFloats(GgufFile file, string name, params long[] expectedShape)
    {
        GgufTensor tensor = Tensor(file, name);
        if (!tensor.Shape.SequenceEqual(expectedShape))
        {
            throw new InvalidDataException($"Tensor '{name}' is [{string.Join(", ", tensor.Shape)}]; the model needs [{string.Join(", ", expectedShape)}].");
        }

        return file.ReadTensor(name);
    }

    private static int Width(int heads, int headDim, string kind)
    {
        long width = (long)heads * headDim;
        return width <= int.MaxValue ? (int)width
            : throw new InvalidDataException($"{heads} {kind} heads of {headDim} make rows of {width} elements, more than an array holds.");
    }
}
