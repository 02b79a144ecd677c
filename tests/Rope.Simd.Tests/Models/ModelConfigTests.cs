using System.Globalization;
using System.Text;
using Rope.Simd;
using Rope.Simd.Models;

namespace Rope.Simd.Tests.Models;

/// <summary>
/// config.json as transformers reads it: the fields a config class defaults, Llama 4's step-shaped llama3 scaling,
/// the query scale's lengths, the names in errors, and the work ParseLayers does for many layer types.
/// </summary>
public class ModelConfigTests
{
    [Fact]
    public void ModelTypeDefaultsFillEveryRopeFieldTheConfigClassDefaults()
    {
        // Qwen3Config: head_dim 128, rope_theta 10000, max_position_embeddings 32768, num_hidden_layers 32.
        RopeModel qwen3 = HuggingFaceConfig.Parse("""{ "model_type": "qwen3" }""");
        Assert.Equal((128, 128, (int?)32768), (qwen3.HeadDim, qwen3.RotaryDim, qwen3.MaxPositionEmbeddings));
        Assert.Equal(Math.Pow(10000, -2.0 / 128), qwen3.Frequencies.InverseFrequencies[1], 1e-15);
        Assert.Equal(32, HuggingFaceConfig.ParseLayers("""{ "model_type": "qwen3" }""").LayerTypes.Count);

        // LlamaConfig: hidden_size 4096 over 32 heads, max_position_embeddings 2048.
        RopeModel llama = HuggingFaceConfig.Parse("""{ "model_type": "llama", "rope_theta": 500000 }""");
        Assert.Equal((128, (int?)2048), (llama.HeadDim, llama.MaxPositionEmbeddings));

        // PhiConfig: hidden_size 2048 over 32 heads, partial_rotary_factor 0.5.
        RopeModel phi = HuggingFaceConfig.Parse("""{ "model_type": "phi", "hidden_size": 2560 }""");
        Assert.Equal((80, 40), (phi.HeadDim, phi.RotaryDim));

        // Gemma3TextConfig: head_dim 256 (not hidden_size / num_attention_heads), 8 heads, rope_local_base_freq 1e4.
        RopeLayerSchedule gemma = HuggingFaceConfig.ParseLayers("""{ "model_type": "gemma3_text", "hidden_size": 2560, "num_hidden_layers": 12 }""");
        Assert.Equal(256, gemma.ForLayer(0)!.HeadDim);
        Assert.Equal(Math.Pow(1e4, -2.0 / 256), gemma.ForLayer(0)!.Frequencies.InverseFrequencies[1], 1e-15);
        Assert.Equal(Math.Pow(1e6, -2.0 / 256), gemma.ForLayer(5)!.Frequencies.InverseFrequencies[1], 1e-15);

        // A value the config gives wins over the class default.
        Assert.Equal(64, HuggingFaceConfig.Parse("""{ "model_type": "qwen3", "head_dim": 64 }""").HeadDim);
    }

    [Fact]
    public void Llama3WithEqualFrequencyFactorsIsAStep()
    {
        // Llama 4 Scout: low_freq_factor = high_freq_factor = 1; the smooth band is empty.
        RopeFrequencies step = RopeScaling.Llama3(128, 500000, 16, 8192, 1, 1);
        for (int i = 0; i < 64; i++)
        {
            double w = Math.Pow(500000, -2.0 * i / 128);
            Assert.Equal(2 * Math.PI / w > 8192 ? w / 16 : w, step.InverseFrequencies[i], w * 1e-15);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => RopeScaling.Llama3(128, 500000, 16, 8192, 2, 1));
    }

    [Theory]
    [InlineData("0", "original_max_position_embeddings")]
    [InlineData("-16384", "original_max_position_embeddings")]
    public void QueryScaleNeedsAPositiveOriginalLength(string original, string field)
    {
        string json = $$"""
            { "head_dim": 128, "max_position_embeddings": 262144, "original_max_position_embeddings": {{original}},
              "rope_parameters": { "rope_type": "default", "rope_theta": 1000000.0, "llama_4_scaling_beta": 0.1 } }
            """;
        ArgumentException error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse(json));
        Assert.Contains($"config.json: {field} ", error.Message, StringComparison.Ordinal);
        Assert.Equal("json", error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RopeQueryScale(0.1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RopeQueryScale(double.NaN, 4096));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("0")]
    public void MaxPositionEmbeddingsMustBePositive(string value)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() =>
            HuggingFaceConfig.Parse($$"""{ "head_dim": 128, "rope_theta": 10000, "max_position_embeddings": {{value}} }"""));
        Assert.Contains("config.json: max_position_embeddings ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NonObjectPerLayerParametersAreNamed()
    {
        const string Json = """
            { "head_dim": 128, "num_hidden_layers": 2, "layer_types": ["sliding_attention", "full_attention"],
              "rope_parameters": { "full_attention": { "rope_type": "default", "rope_theta": 1000000.0 }, "sliding_attention": 5 } }
            """;
        foreach (Func<object> read in (Func<object>[])[() => HuggingFaceConfig.ParseLayers(Json), () => HuggingFaceConfig.Parse(Json, layerType: "sliding_attention")])
        {
            ArgumentException error = Assert.Throws<ArgumentException>(read);
            Assert.Contains("config.json: rope_parameters", error.Message, StringComparison.Ordinal);
            Assert.Contains("sliding_attention", error.Message, StringComparison.Ordinal);
            Assert.Contains("object", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("surrogate", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("0.5")]
    [InlineData("1")]
    public void OutOfRangeLocalBaseNamesItsField(string value)
    {
        string json = $$"""{ "head_dim": 128, "num_hidden_layers": 6, "rope_theta": 1000000, "rope_local_base_freq": {{value}} }""";
        ArgumentException error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.ParseLayers(json));
        Assert.Contains("config.json: rope_local_base_freq ", error.Message, StringComparison.Ordinal);
        Assert.Equal("json", error.ParamName);
    }

    [Fact]
    public void ManyLayerTypesShareOneScheduleWithAllocationBoundedByTheInput()
    {
        // 16384 distinct layer types and the largest head: one schedule resolved, not one per type.
        const int Layers = 16384;
        string types = string.Join(", ", Enumerable.Range(0, Layers).Select(i => $"\"t{i}\""));
        string json = $$"""{ "head_dim": 16384, "rope_theta": 10000, "num_hidden_layers": {{Layers}}, "layer_types": [{{types}}] }""";
        RopeLayerSchedule layers = null!;
        long allocated = AllocatedBy(() => layers = HuggingFaceConfig.ParseLayers(json));
        Assert.InRange(allocated, 0, 64L * json.Length);
        Assert.Same(layers.ForLayer(0), layers.ForLayer(Layers - 1));
        Assert.Equal(Math.Pow(10000, -2.0 / 16384), layers.ForLayer(7)!.Frequencies.InverseFrequencies[1], 1e-15);
    }

    [Fact]
    public void PerTypeParametersAreIndexedOnceAndEqualOnesShareASchedule()
    {
        // As many per-type rope_parameters as layer types: each found through one index, equal ones resolved once.
        const int Layers = 2048;
        var json = new StringBuilder($$"""{ "head_dim": 16384, "num_hidden_layers": {{Layers}}, "layer_types": [""");
        json.AppendJoin(", ", Enumerable.Range(0, Layers).Select(i => $"\"t{i}\"")).Append("], \"rope_parameters\": {");
        json.AppendJoin(", ", Enumerable.Range(0, Layers).Select(i => $$"""
            "t{{i}}": { "rope_type": "default", "rope_theta": {{(i % 2 == 0 ? "10000.0" : "500000.0")}} }
            """)).Append("} }");
        string text = json.ToString();
        RopeLayerSchedule layers = null!;
        long allocated = AllocatedBy(() => layers = HuggingFaceConfig.ParseLayers(text));
        Assert.InRange(allocated, 0, 64L * text.Length);
        Assert.Same(layers.ForLayer(0), layers.ForLayer(Layers - 2));
        Assert.Same(layers.ForLayer(1), layers.ForLayer(Layers - 1));
        Assert.Equal(Math.Pow(500000, -2.0 / 16384), layers.ForLayer(1)!.Frequencies.InverseFrequencies[1], 1e-15);
    }

    [Fact]
    public void DistinctRopeSchedulesAreBounded()
    {
        // Each distinct parameter set costs a schedule (up to 64 KB) from a few bytes of JSON: their number is capped.
        const int Layers = 4000;
        var json = new StringBuilder($$"""{ "head_dim": 16384, "num_hidden_layers": {{Layers}}, "layer_types": [""");
        json.AppendJoin(", ", Enumerable.Range(0, Layers).Select(i => $"\"t{i}\"")).Append("], \"rope_parameters\": {");
        json.AppendJoin(", ", Enumerable.Range(0, Layers).Select(i => $$"""
            "t{{i}}": { "rope_type": "default", "rope_theta": {{(10000 + i).ToString(CultureInfo.InvariantCulture)}} }
            """)).Append("} }");
        string text = json.ToString();
        ArgumentException error = null!;
        long allocated = AllocatedBy(() => error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.ParseLayers(text)));
        Assert.Contains("config.json: rope_parameters ", error.Message, StringComparison.Ordinal);
        Assert.InRange(allocated, 0, 64L * text.Length);
    }

    private static long AllocatedBy(Action work)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        work();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
