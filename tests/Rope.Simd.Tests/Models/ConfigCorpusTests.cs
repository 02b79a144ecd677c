using Rope.Simd;
using Rope.Simd.Models;

namespace Rope.Simd.Tests.Models;

/// <summary>
/// The rope-related fields of published config.json files (Hugging Face model repositories, as published; fields
/// outside the rotary part left out), each read by <see cref="HuggingFaceConfig"/> and checked against the
/// frequencies written out here in float64.
/// </summary>
public class ConfigCorpusTests
{
    /// <summary>Gemma-3-4b-it's config.json: its text_config leaves head_dim, num_attention_heads, max_position_embeddings, rope_theta, rope_local_base_freq and sliding_window_pattern to Gemma3TextConfig's defaults.</summary>
    private const string Gemma3_4b = "google/gemma-3-4b-it";

    /// <summary>Llama-4-Scout-17B-16E-Instruct's config.json: llama3 scaling with low_freq_factor = high_freq_factor = 1, max_position_embeddings 10485760 (40 times the base model's 262144), no_rope_layers empty (Llama4TextConfig's every fourth layer).</summary>
    private const string Llama4Scout = "meta-llama/Llama-4-Scout-17B-16E-Instruct";

    /// <summary>Model, its config's rope fields, the expected head dim, rotary dim and base of the default schedule (0: another schedule, checked apart).</summary>
    public static TheoryData<string, string, int, int, double> Corpus => new()
    {
        { "meta-llama/Llama-2-7b-hf", """{ "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32, "max_position_embeddings": 4096, "rope_scaling": null }""", 128, 128, 10000 },
        { "meta-llama/Llama-2-13b-hf", """{ "model_type": "llama", "hidden_size": 5120, "num_attention_heads": 40, "num_hidden_layers": 40, "max_position_embeddings": 4096, "rope_scaling": null }""", 128, 128, 10000 },
        { "meta-llama/Meta-Llama-3-8B", """{ "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 8192, "rope_theta": 500000.0 }""", 128, 128, 500000 },
        { "meta-llama/Llama-3.1-8B", """{ "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 131072, "rope_theta": 500000.0, "rope_scaling": { "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3" } }""", 128, 128, 0 },
        { "meta-llama/Llama-3.2-1B", """{ "model_type": "llama", "hidden_size": 2048, "head_dim": 64, "num_attention_heads": 32, "max_position_embeddings": 131072, "rope_theta": 500000.0, "rope_scaling": { "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3" } }""", 64, 64, 0 },
        { "mistralai/Mistral-7B-v0.1", """{ "model_type": "mistral", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768, "rope_theta": 10000.0 }""", 128, 128, 10000 },
        { "mistralai/Mistral-7B-Instruct-v0.2", """{ "model_type": "mistral", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768, "rope_theta": 1000000.0 }""", 128, 128, 1000000 },
        { "mistralai/Mixtral-8x7B-v0.1", """{ "model_type": "mixtral", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768, "rope_theta": 1000000.0 }""", 128, 128, 1000000 },
        { "Qwen/Qwen2-7B", """{ "model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 131072, "rope_theta": 1000000.0 }""", 128, 128, 1000000 },
        { "Qwen/Qwen2.5-0.5B", """{ "model_type": "qwen2", "hidden_size": 896, "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rope_scaling": null }""", 64, 64, 1000000 },
        { "Qwen/Qwen3-8B", """{ "model_type": "qwen3", "hidden_size": 4096, "head_dim": 128, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 40960, "rope_theta": 1000000, "rope_scaling": null }""", 128, 128, 1000000 },
        { "Qwen/Qwen2-VL-7B-Instruct", """{ "model_type": "qwen2_vl", "hidden_size": 3584, "num_attention_heads": 28, "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rope_scaling": { "type": "mrope", "mrope_section": [16, 24, 24] } }""", 128, 128, 1000000 },
        { "google/gemma-7b", """{ "model_type": "gemma", "hidden_size": 3072, "head_dim": 256, "num_attention_heads": 16, "max_position_embeddings": 8192, "rope_theta": 10000.0 }""", 256, 256, 10000 },
        { "google/gemma-2-9b", """{ "model_type": "gemma2", "hidden_size": 3584, "head_dim": 256, "num_attention_heads": 16, "num_key_value_heads": 8, "max_position_embeddings": 8192, "rope_theta": 10000.0 }""", 256, 256, 10000 },
        { "microsoft/phi-2", """{ "model_type": "phi", "hidden_size": 2560, "num_attention_heads": 32, "partial_rotary_factor": 0.4, "max_position_embeddings": 2048, "rope_theta": 10000.0, "rope_scaling": null }""", 80, 32, 10000 },
        { "microsoft/Phi-3-mini-4k-instruct", """{ "model_type": "phi3", "hidden_size": 3072, "num_attention_heads": 32, "max_position_embeddings": 4096, "original_max_position_embeddings": 4096, "rope_theta": 10000.0, "rope_scaling": null }""", 96, 96, 10000 },
        { "EleutherAI/gpt-j-6b", """{ "model_type": "gptj", "n_embd": 4096, "n_head": 16, "n_layer": 28, "n_positions": 2048, "rotary_dim": 64 }""", 256, 64, 10000 },
        { "EleutherAI/gpt-neox-20b", """{ "model_type": "gpt_neox", "hidden_size": 6144, "num_attention_heads": 64, "rotary_pct": 0.25, "rotary_emb_base": 10000, "max_position_embeddings": 2048 }""", 96, 24, 10000 },
        { "EleutherAI/pythia-1b", """{ "model_type": "gpt_neox", "hidden_size": 2048, "num_attention_heads": 8, "rotary_pct": 0.25, "rotary_emb_base": 10000, "max_position_embeddings": 2048 }""", 256, 64, 10000 },
        { "tiiuae/falcon-7b", """{ "model_type": "falcon", "hidden_size": 4544, "num_attention_heads": 71, "alibi": false, "new_decoder_architecture": false }""", 64, 64, 10000 },
        { "stabilityai/stablelm-2-1_6b", """{ "model_type": "stablelm", "hidden_size": 2048, "num_attention_heads": 32, "partial_rotary_factor": 0.25, "max_position_embeddings": 4096, "rope_theta": 10000 }""", 64, 16, 10000 },
        { "allenai/OLMo-2-1124-7B", """{ "model_type": "olmo2", "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 4096, "rope_theta": 500000, "rope_scaling": null }""", 128, 128, 500000 },
        { "bigcode/starcoder2-7b", """{ "model_type": "starcoder2", "hidden_size": 4608, "num_attention_heads": 36, "num_key_value_heads": 4, "max_position_embeddings": 16384, "rope_theta": 1000000 }""", 128, 128, 1000000 },
        { "deepseek-ai/DeepSeek-V3", """{ "model_type": "deepseek_v3", "hidden_size": 7168, "num_attention_heads": 128, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "max_position_embeddings": 163840, "rope_theta": 10000, "rope_scaling": { "beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096, "type": "yarn" } }""", 64, 64, 0 },
        { "THUDM/chatglm3-6b", """{ "model_type": "chatglm", "hidden_size": 4096, "num_attention_heads": 32, "kv_channels": 128, "seq_length": 8192 }""", 128, 64, 10000 },
        { "THUDM/glm-4-9b-chat", """{ "model_type": "chatglm", "hidden_size": 4096, "num_attention_heads": 32, "kv_channels": 128, "seq_length": 131072, "rope_ratio": 500 }""", 128, 64, 5000000 },
        { Gemma3_4b, """{ "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "text_config": { "hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text", "num_hidden_layers": 34, "rope_scaling": { "factor": 8.0, "rope_type": "linear" }, "sliding_window": 1024 }, "vision_config": { "hidden_size": 1152, "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27 } }""", 256, 256, 0 },
        { Llama4Scout, """{ "architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "text_config": { "attention_chunk_size": 8192, "head_dim": 128, "hidden_size": 5120, "max_position_embeddings": 10485760, "model_type": "llama4_text", "no_rope_layers": [], "num_attention_heads": 40, "num_hidden_layers": 48, "num_key_value_heads": 8, "rope_scaling": { "factor": 16.0, "high_freq_factor": 1.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3" }, "rope_theta": 500000.0, "use_qk_norm": true }, "vision_config": { "hidden_size": 1408, "model_type": "llama4_vision_model", "num_attention_heads": 16, "rope_theta": 10000 } }""", 128, 128, 0 },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public void EveryPublishedConfigReadsAsPublished(string model, string json, int headDim, int rotaryDim, double @base)
    {
        RopeModel config = model.Contains("gemma-3", StringComparison.Ordinal)
            ? HuggingFaceConfig.Parse(json, layerType: "full_attention")
            : HuggingFaceConfig.Parse(json);
        Assert.Equal((headDim, rotaryDim), (config.HeadDim, config.RotaryDim));
        if (@base > 0)
        {
            // The default schedule written out: ω_i = base^(-2i / rotaryDim).
            double[] expected = [.. Enumerable.Range(0, rotaryDim / 2).Select(i => Math.Pow(@base, -2.0 * i / rotaryDim))];
            double[] actual = config.Frequencies.InverseFrequencies.ToArray();
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.Equal(expected[i], actual[i], expected[i] * 1e-15);
            }
        }
    }

    [Fact]
    public void ScaledPublishedConfigsGiveTheirSchedules()
    {
        static double[] Of(string model) =>
            HuggingFaceConfig.Parse((string)Corpus.Single(row => (string)row.Data.Item1 == model).Data.Item2,
                layerType: model.Contains("gemma-3", StringComparison.Ordinal) ? "full_attention" : null).Frequencies.InverseFrequencies.ToArray();

        Assert.Equal(RopeScaling.Llama3(128, 500000, 8, 8192).InverseFrequencies.ToArray(), Of("meta-llama/Llama-3.1-8B"));
        Assert.Equal(RopeScaling.Llama3(64, 500000, 32, 8192).InverseFrequencies.ToArray(), Of("meta-llama/Llama-3.2-1B"));
        Assert.Equal(RopeScaling.Yarn(64, 10000, 40, 4096, mscale: 1, mscaleAllDim: 1).InverseFrequencies.ToArray(), Of("deepseek-ai/DeepSeek-V3"));
        // Gemma 3's global layers: the class default base 1e6, linearly scaled by 8.
        Assert.Equal(RopeScaling.Linear(256, 1e6, 8).InverseFrequencies.ToArray(), Of(Gemma3_4b));
    }

    [Fact]
    public void Gemma3_4bAsPublishedTakesTheClassDefaults()
    {
        RopeLayerSchedule layers = HuggingFaceConfig.ParseLayers(Json(Gemma3_4b));
        Assert.Equal(34, layers.LayerTypes.Count);
        for (int layer = 0; layer < 34; layer++)
        {
            // Gemma3TextConfig: sliding_window_pattern 6 (layer i is full attention where (i + 1) % 6 == 0), head_dim 256,
            // max_position_embeddings 131072; global layers at rope_theta 1e6 with the linear factor 8, sliding ones at
            // rope_local_base_freq 1e4 unscaled.
            bool full = (layer + 1) % 6 == 0;
            RopeModel config = layers.ForLayer(layer)!;
            Assert.Equal((full ? "full_attention" : "sliding_attention", 256, 256, (int?)131072),
                (layers.LayerTypes[layer], config.HeadDim, config.RotaryDim, config.MaxPositionEmbeddings));
            for (int i = 0; i < 128; i++)
            {
                double expected = full ? Math.Pow(1e6, -2.0 * i / 256) / 8 : Math.Pow(1e4, -2.0 * i / 256);
                Assert.Equal(expected, config.Frequencies.InverseFrequencies[i], expected * 1e-15);
            }
        }

        Assert.Same(layers.ForLayer(0), layers.ForLayer(1));
        Assert.Same(layers.ForLayer(5), layers.ForLayer(11));
    }

    [Fact]
    public void Llama4ScoutAsPublishedIsAStepAndEveryFourthLayerHasNoRope()
    {
        RopeModel config = HuggingFaceConfig.Parse(Json(Llama4Scout));
        Assert.Equal(("llama3", 128, (int?)10485760), (config.ScalingType, config.RotaryDim, config.MaxPositionEmbeddings));
        for (int i = 0; i < 64; i++)
        {
            // transformers' llama3 init with low_freq_factor = high_freq_factor = 1: ω / 16 where the wavelength exceeds
            // 8192 / 1, ω elsewhere (the smooth band between 8192 / 1 and 8192 / 1 is empty).
            double w = Math.Pow(500000, -2.0 * i / 128);
            double expected = 2 * Math.PI / w > 8192 ? w / 16 : w;
            Assert.Equal(expected, config.Frequencies.InverseFrequencies[i], expected * 1e-15);
        }

        // The step falls between pairs 34 and 35 (wavelengths about 6695 and 8219), well clear of 8192 itself, where
        // transformers' smooth factor would be 0/0: no pair of Scout's schedule reaches that boundary.
        double[] wavelengths = [.. Enumerable.Range(0, 64).Select(i => 2 * Math.PI / Math.Pow(500000, -2.0 * i / 128))];
        Assert.Equal(35, wavelengths.Count(wavelength => wavelength < 8192));
        Assert.All(wavelengths, wavelength => Assert.True(Math.Abs(wavelength / 8192 - 1) > 3e-3));

        RopeLayerSchedule layers = HuggingFaceConfig.ParseLayers(Json(Llama4Scout));
        Assert.Equal(48, layers.LayerTypes.Count);
        Assert.Equal([.. Enumerable.Range(0, 48).Where(layer => (layer + 1) % 4 == 0)], Enumerable.Range(0, 48).Where(layer => layers.ForLayer(layer) is null));
    }

    private static string Json(string model) => (string)Corpus.Single(row => (string)row.Data.Item1 == model).Data.Item2;

    [Fact]
    public void Gemma3LayersGetTheirOwnSchedules()
    {
        string json = (string)Corpus.Single(row => ((string)row.Data.Item1).Contains("gemma-3", StringComparison.Ordinal)).Data.Item2;
        // Reading one schedule for every layer would rotate five of every six layers wrongly: refused, naming the field.
        var error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse(json));
        Assert.Contains("rope_local_base_freq", error.Message, StringComparison.Ordinal);

        RopeLayerSchedule layers = HuggingFaceConfig.ParseLayers(json);
        Assert.Equal(34, layers.LayerTypes.Count);
        Assert.Equal([5, 11, 17, 23, 29], Enumerable.Range(0, 34).Where(layer => layers.LayerTypes[layer] == "full_attention"));
        Assert.Equal(RopeFrequencies.Create(256, 10000).InverseFrequencies.ToArray(), layers.ForLayer(0)!.Frequencies.InverseFrequencies.ToArray());
        Assert.Equal(RopeScaling.Linear(256, 1e6, 8).InverseFrequencies.ToArray(), layers.ForLayer(5)!.Frequencies.InverseFrequencies.ToArray());
        Assert.Equal("default", layers.ForLayer(0)!.ScalingType);
        Assert.Equal("linear", layers.ForLayer(5)!.ScalingType);
    }

    [Fact]
    public void PerLayerTypeParametersFollowLayerTypes()
    {
        const string Json = """
            { "head_dim": 128, "num_hidden_layers": 4, "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
              "rope_parameters": { "full_attention": { "rope_type": "default", "rope_theta": 1000000.0 },
                                   "sliding_attention": { "rope_type": "default", "rope_theta": 10000.0 } } }
            """;
        RopeLayerSchedule layers = HuggingFaceConfig.ParseLayers(Json);
        Assert.Equal(1 / Math.Pow(1e6, 2.0 / 128), layers.ForLayer(3)!.Frequencies.InverseFrequencies[1], 1e-18);
        Assert.Equal(1 / Math.Pow(1e4, 2.0 / 128), layers.ForLayer(0)!.Frequencies.InverseFrequencies[1], 1e-18);
        Assert.Throws<ArgumentException>(() => HuggingFaceConfig.ParseLayers(Json.Replace("\"layer_types\"", "\"other_types\"", StringComparison.Ordinal)));
    }

    [Fact]
    public void Llama4LayersWithoutRopeAreMarked()
    {
        const string Listed = """
            { "model_type": "llama4", "text_config": { "model_type": "llama4_text", "head_dim": 128, "num_hidden_layers": 8, "rope_theta": 500000.0,
              "no_rope_layers": [1, 1, 1, 0, 1, 1, 1, 0] } }
            """;
        RopeLayerSchedule layers = HuggingFaceConfig.ParseLayers(Listed);
        Assert.Null(layers.ForLayer(3));
        Assert.Null(layers.ForLayer(7));
        Assert.Equal(RopeLayerSchedule.NoRope, layers.LayerTypes[3]);
        Assert.NotNull(layers.ForLayer(0));

        // An empty list takes Llama4TextConfig's default: every fourth layer.
        RopeLayerSchedule defaulted = HuggingFaceConfig.ParseLayers(Listed.Replace("[1, 1, 1, 0, 1, 1, 1, 0]", "[]", StringComparison.Ordinal));
        Assert.Equal(layers.LayerTypes, defaulted.LayerTypes);
    }

    [Fact]
    public void Llama4ScalingBetaIsTheQueryScale()
    {
        // transformers 5 rope_parameters with the Mistral 3 family's query scale.
        const string Json = """
            { "model_type": "mistral", "head_dim": 128, "max_position_embeddings": 262144,
              "rope_parameters": { "rope_type": "yarn", "rope_theta": 1000000.0, "factor": 16.0, "original_max_position_embeddings": 16384,
                                   "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0, "llama_4_scaling_beta": 0.1 } }
            """;
        RopeModel config = HuggingFaceConfig.Parse(Json);
        Assert.Equal(new RopeQueryScale(0.1, 16384), config.QueryScale);
        Assert.Equal(1.0, config.QueryScale!.Factor(16383));
        Assert.Equal(1 + 0.1 * Math.Log(2), config.QueryScale.Factor(16384));
        Assert.Equal(1 + 0.1 * Math.Log(4), config.QueryScale.Factor(3 * 16384 + 5));
        Assert.Null(HuggingFaceConfig.Parse((string)Corpus.First().Data.Item2).QueryScale);
    }

    [Fact]
    public void PhiMoeMscalesAreTheAttentionFactorOfTheirFactors()
    {
        string factors = string.Join(", ", Enumerable.Repeat("1.0", 64));
        string json = $$"""
            { "model_type": "phimoe", "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 131072, "rope_theta": 10000.0,
              "rope_scaling": { "type": "longrope", "short_factor": [{{factors}}], "long_factor": [{{factors}}], "short_mscale": 1.243163121016122,
                                "long_mscale": 1.243163121016122, "original_max_position_embeddings": 4096 } }
            """;
        Assert.Equal(1.243163121016122, HuggingFaceConfig.Parse(json).Frequencies.AttentionFactor);
        Assert.Equal(1.5, HuggingFaceConfig.Parse(json.Replace("\"long_mscale\": 1.243163121016122", "\"long_mscale\": 1.5", StringComparison.Ordinal),
            sequenceLength: 5000).Frequencies.AttentionFactor);
        var error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse(json.Replace("\"long_mscale\": 1.243163121016122, ", "", StringComparison.Ordinal)));
        Assert.Contains("long_mscale", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "model_type": "falcon", "hidden_size": 2048, "num_attention_heads": 32, "num_hidden_layers": 24, "alibi": true }""", "alibi")]
    [InlineData("""{ "model_type": "somebody_else", "head_dim": 128, "num_hidden_layers": 2 }""", "rope_theta")]
    [InlineData("""{ "head_dim": 128, "num_hidden_layers": 2, "layer_types": ["full_attention"], "rope_theta": 10000 }""", "layer_types")]
    public void ModelsOutsideRopeOrWithoutDefaultsFailNamingTheField(string json, string field)
    {
        var error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.ParseLayers(json));
        Assert.Contains($"config.json: {field} ", error.Message, StringComparison.Ordinal);
    }
}
