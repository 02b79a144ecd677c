using Rope.Simd.Models;

namespace Rope.Simd.Tests.Models;

/// <summary>
/// config.json texts chosen to break the reader: each is rejected with the field named (quickly, before anything is
/// allocated for what it merely claims), with a message that quotes at most a prefix of any hostile value.
/// </summary>
public class HostileConfigTests
{
    [Fact]
    public void HugeHeadDimsAndLayerCountsAreRejectedBeforeAnythingIsAllocated()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        ArgumentException error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse("""{"head_dim": 268435456, "rope_theta": 10000}"""));
        Assert.Contains("head_dim", error.Message, StringComparison.Ordinal);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);

        // A layer count is a size too: two billion layers would be 16 GB of layer types.
        foreach (string extra in (string[])["", """, "rope_local_base_freq": 10000"""])
        {
            before = GC.GetAllocatedBytesForCurrentThread();
            error = Assert.Throws<ArgumentException>(() =>
                HuggingFaceConfig.ParseLayers($$"""{"num_hidden_layers": 2000000000, "head_dim": 64, "rope_theta": 10000{{extra}}}"""));
            Assert.Contains("num_hidden_layers", error.Message, StringComparison.Ordinal);
            Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
        }
    }

    [Theory]
    [InlineData("""{"head_dim": 128, "rope_theta": 1e-320}""", "rope_theta")]
    [InlineData("""{"head_dim": 128, "rope_theta": 1}""", "rope_theta")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 4096, "attention_factor": 1e300}}""", "attention_factor")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 4096, "beta_fast": 0}}""", "beta_fast")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 4096, "beta_slow": 64}}""", "beta_slow")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 4096, "mscale": -1e6, "mscale_all_dim": 1}}""", "mscale")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "linear", "factor": 1e-300}}""", "factor")]
    [InlineData("""{"hidden_size": -4096, "num_attention_heads": 32, "rope_theta": 10000}""", "hidden_size")]
    [InlineData("""{"hidden_size": 4096, "num_attention_heads": -32, "rope_theta": 10000}""", "num_attention_heads")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_theta": 500000}""", "rope_theta")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "linear", "factor": 2}, "rope_scaling": null}""", "rope_scaling")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "linear", "factor": 2, "factor": 4}}""", "factor")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "longrope", "short_factor": [1e999], "long_factor": [1], "original_max_position_embeddings": 4096}, "max_position_embeddings": 8192}""", "short_factor")]
    public void HostileConfigFieldsAreNamed(string json, string field)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse(json));
        Assert.Equal("json", error.ParamName);
        Assert.Contains($"config.json: {field} ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "\uD800"}}""")]
    [InlineData("""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"\uDC00": 1, "rope_type": "linear", "factor": 2}}""")]
    [InlineData("""{"head_dim": 128, "\uD800x": 1, "rope_theta": 10000}""")]
    public void LoneSurrogatesAreBadInputNotACrash(string json)
    {
        Assert.Equal("json", Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse(json)).ParamName);
    }

    [Fact]
    public void MessagesQuoteOnlyAPrefixOfHostileValues()
    {
        string huge = new('x', 10_000_000);
        foreach (string json in new[]
        {
            $$$"""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "{{{huge}}}"}}""",
            $$$"""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "linear", "factor": 2, "{{{huge}}}": 1}}""",
            $$$"""{"head_dim": 128, "rope_theta": "{{{huge}}}"}""",
            $$$"""{"head_dim": 128, "rope_theta": 10000, "rope_scaling": {"rope_type": "linear", "factor": 2, "type": "{{{huge}}}"}}""",
            $$$"""{"head_dim": 128, "rope_theta": 10000, "{{{huge}}}": 1, "{{{huge}}}": 2}""",
        })
        {
            ArgumentException error = Assert.Throws<ArgumentException>(() => HuggingFaceConfig.Parse(json));
            Assert.InRange(error.Message.Length, 10, 400);
        }
    }
}
