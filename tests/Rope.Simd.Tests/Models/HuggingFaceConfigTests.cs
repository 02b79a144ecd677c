using Rope.Simd;
using Rope.Simd.Models;

namespace Rope.Simd.Tests.Models;

/// <summary>config.json import: published configs resolve to the same frequencies as the scaling methods; bad rope fields are named.</summary>
public class HuggingFaceConfigTests
{
    [Fact]
    public void Llama31ConfigGivesLlama3Scaling()
    {
        const string Json = """
            { "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
              "max_position_embeddings": 131072, "rope_theta": 500000.0,
              "rope_scaling": { "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192, "rope_type": "llama3" } }
            """;
        RopeModel config = HuggingFaceConfig.Parse(Json);
        Assert.Equal((128, 128, "llama3", (int?)131072, 1.0), (config.HeadDim, config.RotaryDim, config.ScalingType, config.MaxPositionEmbeddings, config.SoftmaxScale));
        Assert.Equal(RopeScaling.Llama3(128, 500000, 8, 8192).InverseFrequencies.ToArray(), config.Frequencies.InverseFrequencies.ToArray());
    }

    [Fact]
    public void Qwen25YarnConfigUsesTheLegacyTypeField()
    {
        const string Json = """
            { "hidden_size": 3584, "num_attention_heads": 28, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
              "rope_scaling": { "factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn" } }
            """;
        RopeModel config = HuggingFaceConfig.Parse(Json);
        RopeFrequencies expected = RopeScaling.Yarn(128, 1000000, 4, 32768);
        Assert.Equal(expected.InverseFrequencies.ToArray(), config.Frequencies.InverseFrequencies.ToArray());
        Assert.Equal(expected.AttentionFactor, config.Frequencies.AttentionFactor);
    }

    [Fact]
    public void DeepSeekStyleYarnExposesTheSoftmaxScale()
    {
        const string Json = """
            { "head_dim": 64, "rope_theta": 10000, "max_position_embeddings": 163840,
              "rope_scaling": { "type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1,
                                "mscale": 0.707, "mscale_all_dim": 0.707 } }
            """;
        RopeModel config = HuggingFaceConfig.Parse(Json);
        Assert.Equal(1.0, config.Frequencies.AttentionFactor);
        Assert.Equal(RopeScaling.DeepSeekSoftmaxScale(40, 0.707), config.SoftmaxScale);
    }

    [Fact]
    public void Phi3LongRopeSwitchesWithTheSequenceLength()
    {
        static string Factors(double first) =>
            string.Join(", ", Enumerable.Range(0, 48).Select(i => (first + i * 0.1).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        string json = $$"""
            { "hidden_size": 3072, "num_attention_heads": 32, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
              "rope_theta": 10000.0, "rope_scaling": { "type": "su", "short_factor": [{{Factors(1)}}], "long_factor": [{{Factors(2)}}] } }
            """;
        RopeModel initial = HuggingFaceConfig.Parse(json);
        RopeModel grown = HuggingFaceConfig.Parse(json, sequenceLength: 5000);
        Assert.Equal(("longrope", 96), (initial.ScalingType, initial.RotaryDim));
        Assert.Equal(1 / 1.0, initial.Frequencies.InverseFrequencies[0]);
        Assert.Equal(1 / 2.0, grown.Frequencies.InverseFrequencies[0]);
        Assert.Equal(1.19024, initial.Frequencies.AttentionFactor, 5);
    }

    [Fact]
    public void PartialRotaryAndTheNewRopeParametersFormat()
    {
        const string NeoX = """{ "hidden_size": 2048, "num_attention_heads": 8, "rotary_pct": 0.25, "rope_theta": 10000 }""";
        Assert.Equal((256, 64), (HuggingFaceConfig.Parse(NeoX).HeadDim, HuggingFaceConfig.Parse(NeoX).RotaryDim));

        const string Parameters = """{ "head_dim": 128, "rope_parameters": { "rope_type": "default", "rope_theta": 500000.0, "partial_rotary_factor": 0.5 } }""";
        RopeModel config = HuggingFaceConfig.Parse(Parameters);
        Assert.Equal(("default", 64), (config.ScalingType, config.RotaryDim));
        Assert.Equal(RopeFrequencies.Create(64, 500000).InverseFrequencies.ToArray(), config.Frequencies.InverseFrequencies.ToArray());

        const string PerLayer = """
            { "head_dim": 256, "rope_parameters": { "full_attention": { "rope_type": "proportional", "rope_theta": 1000000.0, "partial_rotary_factor": 0.25 },
                                                    "sliding_attention": { "rope_type": "default", "rope_theta": 10000.0 } } }
            """;
        Assert.Equal("proportional", HuggingFaceConfig.Parse(PerLayer, layerType: "full_attention").ScalingType);
        Assert.Equal(256, HuggingFaceConfig.Parse(PerLayer, layerType: "full_attention").RotaryDim);
        Assert.Equal("default", HuggingFaceConfig.Parse(PerLayer, layerType: "sliding_attention").ScalingType);
    }

    [Theory]
    [InlineData("""{ "head_dim": 128 }""", "rope_theta")]
    [InlineData("""{ "head_dim": 127, "rope_theta": 10000 }""", "head_dim")]
    [InlineData("""{ "hidden_size": 4096, "rope_theta": 10000 }""", "head_dim")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "linear" } }""", "factor")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "linear", "factor": 2, "low_freq_factor": 1 } }""", "low_freq_factor")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "linear", "rope_type": "yarn", "factor": 2 } }""", "type")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "magic", "factor": 2 } }""", "rope_type")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "mrope", "mrope_section": [16, 24, 20] } }""", "mrope_section")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_parameters": { "rope_type": "default", "rope_theta": 20000 } }""", "rope_theta")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "linear", "factor": 2 }, "rope_parameters": { "rope_type": "default" } }""", "rope_parameters")]
    [InlineData("""{ "head_dim": 128, "rope_theta": "10000" }""", "rope_theta")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "partial_rotary_factor": 1.5 }""", "partial_rotary_factor")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "dynamic", "factor": 2 } }""", "max_position_embeddings")]
    [InlineData("""{ "head_dim": 128, "rope_theta": 10000, "rope_scaling": { "type": "yarn", "factor": 4 } }""", "original_max_position_embeddings")]
    [InlineData("""{ "head_dim": 128, "rope_parameters": { "full_attention": { "rope_type": "default", "rope_theta": 1e6 } } }""", "rope_parameters")]
    public void BadRopeFieldsAreNamed(string json, string field)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse(json));
        Assert.Contains($"config.json: {field} ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void QwenVisionConfigsGiveTheirSections()
    {
        const string Qwen2Vl = """{ "hidden_size": 3584, "num_attention_heads": 28, "rope_theta": 1000000.0, "rope_scaling": { "type": "mrope", "mrope_section": [16, 24, 24] } }""";
        const string Qwen3Vl = """
            { "head_dim": 128, "rope_theta": 5000000, "rope_scaling": { "rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": true } }
            """;
        MropeSections contiguous = HuggingFaceConfig.Parse(Qwen2Vl).Sections!, interleaved = HuggingFaceConfig.Parse(Qwen3Vl).Sections!;
        Assert.Equal([0, 0, 1, 2], new[] { 0, 15, 16, 40 }.Select(contiguous.StreamOf));
        Assert.Equal([0, 1, 2, 0], new[] { 0, 1, 2, 63 }.Select(interleaved.StreamOf));
        Assert.Null(HuggingFaceConfig.Parse("""{ "head_dim": 64, "rope_theta": 10000 }""").Sections);
    }

    [Fact]
    public void TheModelTypeAndHeadCountsComeWithTheSchedule()
    {
        RopeModel qwen = HuggingFaceConfig.Parse("""{ "model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4 }""");
        Assert.Equal(("qwen2", (int?)28, (int?)4, (RopeLayout?)null), (qwen.Name, qwen.QueryHeads, qwen.KeyValueHeads, qwen.Layout));
        Assert.Equal(new RopeShape(3, 4, 128), qwen.KeyShape(3));

        // Left to the class defaults (LlamaConfig: 32 heads) or not given at all: unknown key/value heads stay null.
        RopeModel llama = HuggingFaceConfig.Parse("""{ "model_type": "llama" }""");
        Assert.Equal(("llama", (int?)32, (int?)null), (llama.Name, llama.QueryHeads, llama.KeyValueHeads));
        Assert.Throws<InvalidOperationException>(() => llama.KeyShape(1));
        RopeModel bare = HuggingFaceConfig.Parse("""{ "head_dim": 64, "rope_theta": 10000 }""");
        Assert.Equal(("", (int?)null), (bare.Name, bare.QueryHeads));

        foreach (string field in (string[])["num_attention_heads", "num_key_value_heads"])
        {
            ArgumentException error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse($$"""{ "head_dim": 64, "rope_theta": 10000, "{{field}}": 0 }"""));
            Assert.Contains($"config.json: {field} ", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MalformedJsonIsAnArgumentException() =>
        Assert.Equal("json", Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse("{ not json")).ParamName);
}
