using Rope.Simd.Samples.LlamaDecoder.Gguf;
using Rope.Simd.Samples.LlamaDecoder.Model;

namespace Rope.Simd.CrossChecks;

/// <summary>The decoder sample's loader: what it refuses rather than decode wrongly.</summary>
public sealed class SampleModelTests
{
    [Theory]
    [InlineData("qwen2", false, "'qwen2' model")]
    [InlineData("llama", true, "with experts")]
    public void ArchitecturesTheDecoderDoesNotRunAreRefused(string architecture, bool experts, string message)
    {
        var writer = new GgufWriter().String("general.architecture", architecture)
            .UInt32($"{architecture}.attention.head_count", 8).UInt32($"{architecture}.attention.head_count_kv", 2)
            .UInt32($"{architecture}.embedding_length", 512);
        if (experts)
        {
            writer.UInt32($"{architecture}.expert_count", 8);
        }

        string path = Path.Combine(Path.GetTempPath(), $"rope-simd-refused-{architecture}-{Environment.ProcessId}.gguf");
        writer.Save(path);
        try
        {
            var exception = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path));
            Assert.Contains(message, exception.Message);
            Assert.Contains("dense llama and qwen3", exception.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void QuantizedWeightsAreRefusedNamingTheTensor()
    {
        string path = Path.Combine(Path.GetTempPath(), $"rope-simd-quantized-{Environment.ProcessId}.gguf");
        RandomModel.Write(path, new RandomModelOptions { Layers = 1, FeedForward = 64, Vocabulary = 16 });
        byte[] bytes = File.ReadAllBytes(path);
        // The first tensor info after the header is token_embd.weight's: its type field follows its name and shape.
        byte[] name = "token_embd.weight"u8.ToArray();
        int at = bytes.AsSpan().IndexOf(name) + name.Length + 4 + 2 * 8;
        BitConverter.GetBytes(2u).CopyTo(bytes, at);   // ggml type 2: Q4_0
        File.WriteAllBytes(path, bytes);
        try
        {
            var exception = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path));
            Assert.Contains("'token_embd.weight' is of ggml type 2", exception.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
