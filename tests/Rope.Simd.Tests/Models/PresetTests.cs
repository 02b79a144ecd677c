using Rope.Simd;
using Rope.Simd.Models;

namespace Rope.Simd.Tests.Models;

/// <summary>Every preset against the rope fields of its model's published config.json, read by <see cref="HuggingFaceConfig"/>.</summary>
public class PresetTests
{
    public static TheoryData<string, string> PublishedConfigs => new()
    {
        // Llama-2-7b-hf's config.json has no rope_theta: LlamaConfig's default, 10000, applies.
        { "Llama-2-7B", """{ "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096, "rope_scaling": null }""" },
        // gpt-j-6b: GPT-J's own field names, the base fixed in the model code.
        { "GPT-J-6B", """{ "model_type": "gptj", "n_embd": 4096, "n_head": 16, "n_layer": 28, "n_positions": 2048, "rotary_dim": 64, "rotary": true }""" },
        { "Llama-3-8B", """{ "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 8192, "rope_theta": 500000.0 }""" },
        { "Llama-3.1-8B", """
            { "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072, "rope_theta": 500000.0,
              "rope_scaling": { "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3" } }
            """ },
        { "Llama-3.2-1B", """
            { "hidden_size": 2048, "head_dim": 64, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072, "rope_theta": 500000.0,
              "rope_scaling": { "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3" } }
            """ },
        { "Mistral-7B-v0.1", """{ "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768, "rope_theta": 10000.0 }""" },
        { "Mistral-7B-v0.3", """{ "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768, "rope_theta": 1000000.0 }""" },
        { "Qwen2-7B", """{ "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 131072, "rope_theta": 1000000.0 }""" },
        { "Qwen2.5-7B-Instruct (YaRN)", """
            { "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
              "rope_scaling": { "factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn" } }
            """ },
        { "Qwen2-VL-7B", """
            { "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
              "rope_scaling": { "type": "mrope", "mrope_section": [16, 24, 24] } }
            """ },
        { "Gemma-7B", """{ "hidden_size": 3072, "head_dim": 256, "num_attention_heads": 16, "num_key_value_heads": 16, "max_position_embeddings": 8192, "rope_theta": 10000.0 }""" },
        { "GPT-NeoX-20B", """{ "hidden_size": 6144, "num_attention_heads": 64, "rotary_pct": 0.25, "rotary_emb_base": 10000, "max_position_embeddings": 2048 }""" },
        { "DeepSeek-V2", """
            { "hidden_size": 5120, "num_attention_heads": 128, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "max_position_embeddings": 163840, "rope_theta": 10000,
              "rope_scaling": { "beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707, "original_max_position_embeddings": 4096, "type": "yarn" } }
            """ },
        { "DeepSeek-V3", """
            { "hidden_size": 7168, "num_attention_heads": 128, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "max_position_embeddings": 163840, "rope_theta": 10000,
              "rope_scaling": { "beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096, "type": "yarn" } }
            """ },
    };

    [Theory]
    [MemberData(nameof(PublishedConfigs))]
    public void PresetMatchesThePublishedConfig(string name, string json)
    {
        RopeModel preset = RopeModelPresets.All.Single(p => p.Name == name);
        RopeModel config = HuggingFaceConfig.Parse(json);
        Assert.Equal((config.HeadDim, config.RotaryDim, config.MaxPositionEmbeddings, config.SoftmaxScale),
            (preset.HeadDim, preset.RotaryDim, (int?)preset.MaxPositionEmbeddings, preset.SoftmaxScale));
        Assert.Equal(config.Frequencies.InverseFrequencies.ToArray(), preset.Frequencies.InverseFrequencies.ToArray());
        Assert.Equal(config.Frequencies.AttentionFactor, preset.Frequencies.AttentionFactor);
        Assert.Equal(config.Sections is null, preset.Sections is null);
        // The rope type, and the heads where the config gives them.
        Assert.Equal(config.ScalingType, preset.ScalingType);
        Assert.Equal(config.QueryHeads, preset.QueryHeads);
        Assert.True(config.KeyValueHeads is null || config.KeyValueHeads == preset.KeyValueHeads, $"{name}: {config.KeyValueHeads} KV heads");
        if (config.Sections is MropeSections sections)
        {
            Assert.Equal(Enumerable.Range(0, sections.PairCount).Select(sections.StreamOf), Enumerable.Range(0, sections.PairCount).Select(preset.Sections!.StreamOf));
        }
    }

    [Fact]
    public void EveryPresetIsChecked()
    {
        var checkedNames = PublishedConfigs.Select(row => (string)row.Data.Item1).ToHashSet();
        Assert.All(RopeModelPresets.All, preset => Assert.Contains(preset.Name, checkedNames));
        Assert.Equal(RopeLayout.Interleaved, RopeModelPresets.GptJ_6B.Layout);
    }

    [Fact]
    public void Phi3PresetMatchesItsConfigWithTheSameFactors()
    {
        double[] shortFactor = [.. Enumerable.Range(0, 48).Select(i => 1 + i / 64.0)], longFactor = [.. Enumerable.Range(0, 48).Select(i => 1 + i / 2.0)];
        string json = $$"""
            { "hidden_size": 3072, "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 131072,
              "original_max_position_embeddings": 4096, "rope_theta": 10000.0,
              "rope_scaling": { "type": "longrope", "short_factor": [{{string.Join(", ", shortFactor.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}],
                                "long_factor": [{{string.Join(", ", longFactor.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}] } }
            """;
        foreach (int length in (ReadOnlySpan<int>)[0, 4096, 4097])
        {
            RopeModel preset = RopeModelPresets.Phi3Mini128k(shortFactor, longFactor, LongRopeSelection.BySequenceLength, length);
            RopeModel config = HuggingFaceConfig.Parse(json, length);
            Assert.Equal(config.Frequencies.InverseFrequencies.ToArray(), preset.Frequencies.InverseFrequencies.ToArray());
            Assert.Equal(config.Frequencies.AttentionFactor, preset.Frequencies.AttentionFactor);
            Assert.Equal((96, 96, (int?)131072), (preset.HeadDim, preset.RotaryDim, config.MaxPositionEmbeddings));
            Assert.Equal((config.ScalingType, config.QueryHeads, config.KeyValueHeads), (preset.ScalingType, preset.QueryHeads, preset.KeyValueHeads));
        }
    }

    [Fact]
    public void PresetsRotateTheirOwnShapes()
    {
        RopeModel llama = RopeModelPresets.Llama31_8B;
        RopeTable table = llama.CreateTable(16);
        float[] queries = new float[llama.QueryShape(16).RequiredLength], keys = new float[llama.KeyShape(16).RequiredLength];
        RopeEngine.Default.Apply(table, queries, llama.QueryShape(16), keys, llama.KeyShape(16), 0, llama.Layout!.Value);
        Assert.Equal(16 * 32 * 128, queries.Length);
    }
}
