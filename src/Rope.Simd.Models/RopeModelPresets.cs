namespace Rope.Simd.Models;

/// <summary>
/// Presets for widely used models, with the values of their published config.json files (each is tested against
/// them). Phi-3's LongRoPE factor lists are data of the checkpoint, so its preset takes them (or read its config.json
/// with <see cref="HuggingFaceConfig"/>).
/// </summary>
public static class RopeModelPresets
{
    /// <summary>Llama-2-7b-hf: 32 heads of 128, base 10000, 4096 positions.</summary>
    public static RopeModel Llama2_7B { get; } = Preset("Llama-2-7B", 32, 32, 128, RopeLayout.HalfSplit, RopeFrequencies.Create(128, 10000), 4096);

    /// <summary>Meta-Llama-3-8B: 32 query and 8 key heads of 128, base 500000, 8192 positions.</summary>
    public static RopeModel Llama3_8B { get; } = Preset("Llama-3-8B", 32, 8, 128, RopeLayout.HalfSplit, RopeFrequencies.Create(128, 500000), 8192);

    /// <summary>Llama-3.1-8B (and 3.3): llama3 scaling factor 8, low/high frequency factors 1/4, original 8192; 131072 positions.</summary>
    public static RopeModel Llama31_8B { get; } = Preset("Llama-3.1-8B", 32, 8, 128, RopeLayout.HalfSplit,
        RopeScaling.Llama3(128, 500000, 8, 8192, 1, 4), 131072, "llama3");

    /// <summary>Llama-3.2-1B: 32 query and 8 key heads of 64, llama3 scaling factor 32, original 8192; 131072 positions.</summary>
    public static RopeModel Llama32_1B { get; } = Preset("Llama-3.2-1B", 32, 8, 64, RopeLayout.HalfSplit,
        RopeScaling.Llama3(64, 500000, 32, 8192, 1, 4), 131072, "llama3");

    /// <summary>Mistral-7B-v0.1: 32 query and 8 key heads of 128, base 10000, 32768 positions.</summary>
    public static RopeModel Mistral7B_v01 { get; } = Preset("Mistral-7B-v0.1", 32, 8, 128, RopeLayout.HalfSplit, RopeFrequencies.Create(128, 10000), 32768);

    /// <summary>Mistral-7B-v0.3: as v0.1 with base 1000000.</summary>
    public static RopeModel Mistral7B_v03 { get; } = Preset("Mistral-7B-v0.3", 32, 8, 128, RopeLayout.HalfSplit, RopeFrequencies.Create(128, 1000000), 32768);

    /// <summary>Qwen2-7B: 28 query and 4 key heads of 128, base 1000000, 131072 positions.</summary>
    public static RopeModel Qwen2_7B { get; } = Preset("Qwen2-7B", 28, 4, 128, RopeLayout.HalfSplit, RopeFrequencies.Create(128, 1000000), 131072);

    /// <summary>Qwen2.5-7B-Instruct with the YaRN block its model card adds for long inputs: factor 4 over 32768.</summary>
    public static RopeModel Qwen25_7B_Yarn { get; } = Preset("Qwen2.5-7B-Instruct (YaRN)", 28, 4, 128, RopeLayout.HalfSplit,
        RopeScaling.Yarn(128, 1000000, 4, 32768), 32768, "yarn");

    /// <summary>gemma-7b: 16 heads of 256, base 10000, 8192 positions.</summary>
    public static RopeModel Gemma_7B { get; } = Preset("Gemma-7B", 16, 16, 256, RopeLayout.HalfSplit, RopeFrequencies.Create(256, 10000), 8192);

    /// <summary>gpt-j-6b: 16 heads of 256 rotating the first 64 elements, interleaved, base 10000, 2048 positions.</summary>
    public static RopeModel GptJ_6B { get; } = Preset("GPT-J-6B", 16, 16, 256, RopeLayout.Interleaved, RopeFrequencies.Create(64, 10000), 2048);

    /// <summary>gpt-neox-20b: 64 heads of 96 rotating 25% (24 elements), base 10000, 2048 positions.</summary>
    public static RopeModel GptNeoX_20B { get; } = Preset("GPT-NeoX-20B", 64, 64, 96, RopeLayout.HalfSplit, RopeFrequencies.Create(24, 10000), 2048);

    /// <summary>DeepSeek-V2: 128 heads with a 64-element rope slice, interleaved, YaRN factor 40 over 4096, mscale 0.707/0.707.</summary>
    public static RopeModel DeepSeekV2 { get; } = Preset("DeepSeek-V2", 128, 128, 64, RopeLayout.Interleaved,
        RopeScaling.Yarn(64, 10000, 40, 4096, 32, 1, mscale: 0.707, mscaleAllDim: 0.707), 163840, "yarn", RopeScaling.DeepSeekSoftmaxScale(40, 0.707));

    /// <summary>DeepSeek-V3: as V2 with mscale 1/1.</summary>
    public static RopeModel DeepSeekV3 { get; } = Preset("DeepSeek-V3", 128, 128, 64, RopeLayout.Interleaved,
        RopeScaling.Yarn(64, 10000, 40, 4096, 32, 1, mscale: 1, mscaleAllDim: 1), 163840, "yarn", RopeScaling.DeepSeekSoftmaxScale(40, 1));

    /// <summary>Qwen2-VL-7B-Instruct: 28 query and 4 key heads of 128, base 1000000, M-RoPE sections [16, 24, 24], 32768 positions.</summary>
    public static RopeModel Qwen2VL_7B { get; } = Preset("Qwen2-VL-7B", 28, 4, 128, RopeLayout.HalfSplit, RopeFrequencies.Create(128, 1000000), 32768,
        "mrope", sections: MropeSections.Contiguous(16, 24, 24));

    /// <summary>
    /// Phi-3-mini-128k-instruct: 32 heads of 96, base 10000, LongRoPE over an original 4096 positions to 131072
    /// (attention factor 1.19024), with the short_factor and long_factor lists of its config.json.
    /// </summary>
    /// <param name="shortFactor">short_factor: 48 values.</param>
    /// <param name="longFactor">long_factor: 48 values.</param>
    /// <param name="selection">Which factors, as in <see cref="RopeScaling.LongRope"/>.</param>
    /// <param name="sequenceLength">The current sequence length, for <see cref="LongRopeSelection.BySequenceLength"/>.</param>
    public static RopeModel Phi3Mini128k(ReadOnlySpan<double> shortFactor, ReadOnlySpan<double> longFactor,
        LongRopeSelection selection = LongRopeSelection.BySequenceLength, int sequenceLength = 0) =>
        Preset("Phi-3-mini-128k", 32, 32, 96, RopeLayout.HalfSplit,
            RopeScaling.LongRope(96, 10000, shortFactor, longFactor, 4096, 131072, selection, sequenceLength), 131072, "longrope");

    /// <summary>A preset: its heads, head dim and layout, frequencies, context length and the rope type its config.json names.</summary>
    private static RopeModel Preset(string name, int queryHeads, int keyValueHeads, int headDim, RopeLayout layout, RopeFrequencies frequencies,
        int maxPositionEmbeddings, string scalingType = "default", double softmaxScale = 1, MropeSections? sections = null) =>
        new(name, headDim, frequencies)
        {
            QueryHeads = queryHeads, KeyValueHeads = keyValueHeads, Layout = layout, MaxPositionEmbeddings = maxPositionEmbeddings,
            ScalingType = scalingType, SoftmaxScale = softmaxScale, Sections = sections,
        };

    /// <summary>Every preset with a fixed schedule (<see cref="Phi3Mini128k"/> takes its factors).</summary>
    public static IReadOnlyList<RopeModel> All { get; } =
        [Llama2_7B, Llama3_8B, Llama31_8B, Llama32_1B, Mistral7B_v01, Mistral7B_v03, Qwen2_7B, Qwen25_7B_Yarn, Qwen2VL_7B, Gemma_7B, GptJ_6B,
            GptNeoX_20B, DeepSeekV2, DeepSeekV3];
}
