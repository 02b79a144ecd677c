namespace Rope.Simd.Models;

/// <summary>
/// One model's rotary embedding: what <see cref="RopeModelPresets"/>, <see cref="HuggingFaceConfig"/> (config.json) and
/// <see cref="GgufFile.ReadRopeModel"/> (GGUF) give. Immutable; the values a source does not state are null.
/// </summary>
/// <remarks>
/// Queries are <c>[tokens][QueryHeads][HeadDim]</c> and keys <c>[tokens][KeyValueHeads][HeadDim]</c>
/// (<see cref="QueryShape"/>, <see cref="KeyShape"/>). The first <see cref="RotaryDim"/> elements of each head rotate,
/// in pairs laid out as <see cref="Layout"/>; the rest pass through. Pair i of the token at position p turns by the
/// angle p·ω_i, ω_i = <c>Frequencies.InverseFrequencies[i]</c> (scaling included), and tables hold A·cos and A·sin,
/// A = <c>Frequencies.AttentionFactor</c>; a table from <see cref="CreateTable"/> is accurate to 1 ulp (see
/// <see cref="RopeTable"/>). Two things act outside the rotation: <see cref="SoftmaxScale"/> multiplies the attention
/// softmax scale (1/√d_k) and <see cref="QueryScale"/> the queries of each position.
/// </remarks>
/// <param name="Name">The model: a preset's name, GGUF's general.architecture, or config.json's model_type (the text
/// model's; empty where the config has none).</param>
/// <param name="HeadDim">Elements per attention head (for DeepSeek's multi-head latent attention, the rotated slice
/// qk_rope_head_dim): positive, even and at least <see cref="RotaryDim"/>.</param>
/// <param name="Frequencies">ω_i and the attention factor A; their rotary dim may be below the head dim (partial rotary).</param>
/// <exception cref="ArgumentNullException"><paramref name="Name"/> or <paramref name="Frequencies"/> is null.</exception>
/// <exception cref="ArgumentOutOfRangeException"><paramref name="HeadDim"/> is not positive and even, or is below the rotary dim.</exception>
public sealed record RopeModel(string Name, int HeadDim, RopeFrequencies Frequencies)
{
    /// <summary>The model: a preset's name, GGUF's general.architecture, or config.json's model_type (empty where it has none).</summary>
    public string Name
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Name));
    } = Name ?? throw new ArgumentNullException(nameof(Name));

    /// <summary>Elements per attention head: positive and even (the constructor also checks it is at least <see cref="RotaryDim"/>).</summary>
    public int HeadDim
    {
        get;
        init => field = CheckHeadDim(value);
    } = CheckHeadDim(HeadDim, Frequencies);

    /// <summary>ω_i and the attention factor A, for the sequence length the model was read for (dynamic NTK and LongRoPE depend on it).</summary>
    public RopeFrequencies Frequencies
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Frequencies));
    } = Frequencies ?? throw new ArgumentNullException(nameof(Frequencies));

    /// <summary>Rotated elements per head, <c>Frequencies.RotaryDim</c> (partial_rotary_factor, rotary_pct, rotary_dim or GGUF's rope.dimension_count applied).</summary>
    public int RotaryDim => Frequencies.RotaryDim;

    /// <summary>
    /// Query (attention) heads per token: num_attention_heads (GPT-J's n_head, or the model_type's class default),
    /// GGUF's &lt;arch&gt;.attention.head_count; null where the source does not give it. Positive where given.
    /// </summary>
    public int? QueryHeads
    {
        get;
        init => field = CheckCount(value, nameof(QueryHeads));
    }

    /// <summary>
    /// Key and value heads per token (fewer than <see cref="QueryHeads"/> with grouped-query attention):
    /// num_key_value_heads, GGUF's &lt;arch&gt;.attention.head_count_kv (the query heads where absent); null where
    /// config.json does not give num_key_value_heads. Positive where given.
    /// </summary>
    public int? KeyValueHeads
    {
        get;
        init => field = CheckCount(value, nameof(KeyValueHeads));
    }

    /// <summary>
    /// The pair layout of the model's weights: the Hugging Face checkpoint's for a preset, the one llama.cpp rotates the
    /// GGUF architecture with (interleaved for llama, whose converted weights are permuted for it; half-split for qwen2,
    /// gemma, phi3, ...); null for config.json, which does not say (state it when rotating).
    /// </summary>
    public RopeLayout? Layout { get; init; }

    /// <summary>The scaling: default, linear, dynamic, yarn, llama3, longrope, proportional or mrope (config.json's rope type, GGUF's rope.scaling.type).</summary>
    public string ScalingType
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(ScalingType));
    } = "default";

    /// <summary>The context length the model was trained for (max_position_embeddings, GGUF's &lt;arch&gt;.context_length), or null where not given. Positive where given.</summary>
    public int? MaxPositionEmbeddings
    {
        get;
        init => field = CheckCount(value, nameof(MaxPositionEmbeddings));
    }

    /// <summary>
    /// The factor to multiply the attention softmax scale by: YaRN's mscale(s, mscale_all_dim)² where the model gives
    /// mscale_all_dim (DeepSeek; GGUF's yarn_log_multiplier / 0.1), else 1. Finite and positive.
    /// </summary>
    public double SoftmaxScale
    {
        get;
        init => field = double.IsFinite(value) && value > 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(SoftmaxScale), value, "Must be finite and positive.");
    } = 1;

    /// <summary>Multimodal RoPE sections (mrope_section, GGUF's rope.dimension_sections), for <see cref="RopePositions.Multimodal"/>; null otherwise.</summary>
    public MropeSections? Sections { get; init; }

    /// <summary>
    /// A position-dependent factor the model multiplies its queries by before attention (rope_parameters'
    /// llama_4_scaling_beta, the Mistral 3 family), or null where the model has none.
    /// </summary>
    public RopeQueryScale? QueryScale { get; init; }

    /// <summary>A table of A·cos and A·sin rows for positions [firstPosition, firstPosition + positionCount).</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="RopeTable.Create(RopeFrequencies, int, int)"/>.</exception>
    public RopeTable CreateTable(int positionCount, int firstPosition = 0) => RopeTable.Create(Frequencies, firstPosition, positionCount);

    /// <summary>The shape of <paramref name="tokens"/> packed query tokens: <c>[tokens][QueryHeads][HeadDim]</c>.</summary>
    /// <exception cref="InvalidOperationException"><see cref="QueryHeads"/> is null.</exception>
    public RopeShape QueryShape(int tokens) =>
        new(tokens, QueryHeads ?? throw new InvalidOperationException($"The query heads of '{Name}' are not known."), HeadDim);

    /// <summary>The shape of <paramref name="tokens"/> packed key (or value) tokens: <c>[tokens][KeyValueHeads][HeadDim]</c>.</summary>
    /// <exception cref="InvalidOperationException"><see cref="KeyValueHeads"/> is null.</exception>
    public RopeShape KeyShape(int tokens) =>
        new(tokens, KeyValueHeads ?? throw new InvalidOperationException($"The key/value heads of '{Name}' are not known."), HeadDim);

    /// <summary>The name.</summary>
    public override string ToString() => Name;

    private static int CheckHeadDim(int headDim) => headDim > 0 && headDim % 2 == 0
        ? headDim
        : throw new ArgumentOutOfRangeException(nameof(HeadDim), headDim, "Must be positive and even.");

    private static int CheckHeadDim(int headDim, RopeFrequencies? frequencies) =>
        frequencies is null || CheckHeadDim(headDim) >= frequencies.RotaryDim
            ? headDim
            : throw new ArgumentOutOfRangeException(nameof(HeadDim), headDim, $"Must be at least the rotary dim, {frequencies.RotaryDim}.");

    private static int? CheckCount(int? value, string name) => value is null or > 0
        ? value
        : throw new ArgumentOutOfRangeException(name, value, "Must be positive where given.");
}
