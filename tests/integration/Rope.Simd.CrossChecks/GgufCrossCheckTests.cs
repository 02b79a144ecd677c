using System.Runtime.InteropServices;
using Rope.Simd;
using Rope.Simd.Bench.Peers;
using Rope.Simd.Models;
using Rope.Simd.Samples.LlamaDecoder.Gguf;

namespace Rope.Simd.CrossChecks;

/// <summary>
/// Rope.Simd.Models' GGUF reader against llama.cpp's (gguf_init_from_file in libggml-base) on the same files: the values
/// llama.cpp reads for the rope keys, and the rope_freqs tensor at the place llama.cpp finds it, give the same
/// configuration Rope.Simd reports.
/// </summary>
public sealed unsafe class GgufCrossCheckTests
{
    public static TheoryData<string> Files => ["llama with rope_freqs", "qwen2 with yarn", "gemma3 linear", "deepseek2 yarn"];

    [Theory]
    [MemberData(nameof(Files))]
    public void RopeSimdReadsWhatLlamaCppReads(string name)
    {
        Assert.SkipWhen(Ggml.LoadError is not null, $"llama.cpp's ggml could not load here: {Ggml.LoadError}");
        string path = Path.Combine(Directory.CreateTempSubdirectory().FullName, "model.gguf");
        File.WriteAllBytes(path, Build(name).Bytes());
        try
        {
            RopeModel ours;
            using (GgufFile file = GgufFile.Open(path))
            {
                ours = file.ReadRopeModel();
            }

            nint context = LlamaCppGguf.Open(path);
            try
            {
                string architecture = LlamaCppGguf.String(context, "general.architecture");
                Assert.Equal(architecture, ours.Name);
                string prefix = architecture + ".";
                Assert.Equal((int)LlamaCppGguf.UInt32(context, prefix + "attention.head_count"), ours.QueryHeads);
                int rotaryDim = (int)LlamaCppGguf.UInt32(context, prefix + "rope.dimension_count");
                Assert.Equal(rotaryDim, ours.RotaryDim);

                // llama.cpp's values build the expected schedule: its base, its scaling keys, its rope_freqs data.
                double @base = LlamaCppGguf.Float32(context, prefix + "rope.freq_base");
                string type = LlamaCppGguf.Has(context, prefix + "rope.scaling.type") ? LlamaCppGguf.String(context, prefix + "rope.scaling.type") : "none";
                RopeFrequencies expected = type switch
                {
                    "linear" => RopeScaling.Linear(rotaryDim, @base, LlamaCppGguf.Float32(context, prefix + "rope.scaling.factor")),
                    "yarn" => RopeScaling.Yarn(rotaryDim, @base, LlamaCppGguf.Float32(context, prefix + "rope.scaling.factor"),
                        (int)LlamaCppGguf.UInt32(context, prefix + "rope.scaling.original_context_length"),
                        mscale: LlamaCppGguf.Has(context, prefix + "rope.scaling.yarn_log_multiplier") ? LlamaCppGguf.Float32(context, prefix + "rope.scaling.yarn_log_multiplier") / 0.1 : null,
                        mscaleAllDim: LlamaCppGguf.Has(context, prefix + "rope.scaling.yarn_log_multiplier") ? LlamaCppGguf.Float32(context, prefix + "rope.scaling.yarn_log_multiplier") / 0.1 : null),
                    _ => RopeFrequencies.Create(rotaryDim, @base),
                };
                if (LlamaCppGguf.TensorFloats(context, path, "rope_freqs.weight") is double[] factors)
                {
                    expected = RopeScaling.WithFactors(expected, factors);
                }

                Assert.Equal(expected.InverseFrequencies.ToArray(), ours.Frequencies.InverseFrequencies.ToArray());
                Assert.Equal(expected.AttentionFactor, ours.Frequencies.AttentionFactor, 12);
            }
            finally
            {
                LlamaCppGguf.Close(context);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static GgufWriter Build(string name)
    {
        GgufWriter Model(string arch, uint heads, uint rotaryDim, float @base) => new GgufWriter().String("general.architecture", arch)
            .UInt32($"{arch}.attention.head_count", heads).UInt32($"{arch}.attention.key_length", rotaryDim < 128 ? 128u : rotaryDim)
            .UInt32($"{arch}.rope.dimension_count", rotaryDim).Float32($"{arch}.rope.freq_base", @base).UInt32($"{arch}.context_length", 131072)
            .Strings("tokenizer.ggml.tokens", ["<s>", "</s>"]);
        return name switch
        {
            "llama with rope_freqs" => Model("llama", 32, 128, 500000)
                .Tensor("token_embd.weight", 1, [128, 2], new byte[128 * 2 * 2])
                .Tensor("rope_freqs.weight", 0, [64], [.. Enumerable.Range(0, 64).SelectMany(i => BitConverter.GetBytes(1f + i / 16f))]),
            "qwen2 with yarn" => Model("qwen2", 28, 128, 1000000).String("qwen2.rope.scaling.type", "yarn").Float32("qwen2.rope.scaling.factor", 4)
                .UInt32("qwen2.rope.scaling.original_context_length", 32768),
            "gemma3 linear" => Model("gemma3", 8, 128, 1000000).String("gemma3.rope.scaling.type", "linear").Float32("gemma3.rope.scaling.factor", 8),
            _ => Model("deepseek2", 128, 64, 10000).String("deepseek2.rope.scaling.type", "yarn").Float32("deepseek2.rope.scaling.factor", 40)
                .UInt32("deepseek2.rope.scaling.original_context_length", 4096).Float32("deepseek2.rope.scaling.yarn_log_multiplier", 0.1f),
        };
    }

    /// <summary>llama.cpp's GGUF reader (ggml-base), resolved by the benchmark project's ggml loader.</summary>
    private static class LlamaCppGguf
    {
        [StructLayout(LayoutKind.Sequential)]
        private struct InitParams
        {
            public byte NoAlloc;
            public nint Context;
        }

        public static nint Open(string path)
        {
            nint context = gguf_init_from_file(path, new InitParams { NoAlloc = 1 });
            return context != 0 ? context : throw new InvalidOperationException($"llama.cpp could not read {path}.");
        }

        public static void Close(nint context) => gguf_free(context);

        public static bool Has(nint context, string key) => gguf_find_key(context, key) >= 0;

        public static string String(nint context, string key) => Marshal.PtrToStringUTF8(gguf_get_val_str(context, Key(context, key)))!;

        public static uint UInt32(nint context, string key) => gguf_get_val_u32(context, Key(context, key));

        public static float Float32(nint context, string key) => gguf_get_val_f32(context, Key(context, key));

        /// <summary>A float32 tensor's values, read from the file at llama.cpp's data offset plus the tensor's offset; null where absent.</summary>
        public static double[]? TensorFloats(nint context, string path, string name)
        {
            long index = gguf_find_tensor(context, name);
            if (index < 0)
            {
                return null;
            }

            long offset = (long)gguf_get_data_offset(context) + (long)gguf_get_tensor_offset(context, index);
            int count = (int)(gguf_get_tensor_size(context, index) / 4);
            using FileStream file = File.OpenRead(path);
            file.Seek(offset, SeekOrigin.Begin);
            byte[] bytes = new byte[count * 4];
            file.ReadExactly(bytes);
            return [.. Enumerable.Range(0, count).Select(i => (double)BitConverter.ToSingle(bytes, 4 * i))];
        }

        private static long Key(nint context, string key)
        {
            long index = gguf_find_key(context, key);
            return index >= 0 ? index : throw new InvalidOperationException($"llama.cpp finds no key {key}.");
        }

        [DllImport("ggml-base")]
        private static extern nint gguf_init_from_file([MarshalAs(UnmanagedType.LPUTF8Str)] string path, InitParams parameters);

        [DllImport("ggml-base")]
        private static extern void gguf_free(nint context);

        [DllImport("ggml-base")]
        private static extern long gguf_find_key(nint context, [MarshalAs(UnmanagedType.LPUTF8Str)] string key);

        [DllImport("ggml-base")]
        private static extern nint gguf_get_val_str(nint context, long key);

        [DllImport("ggml-base")]
        private static extern uint gguf_get_val_u32(nint context, long key);

        [DllImport("ggml-base")]
        private static extern float gguf_get_val_f32(nint context, long key);

        [DllImport("ggml-base")]
        private static extern long gguf_find_tensor(nint context, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);

        [DllImport("ggml-base")]
        private static extern nuint gguf_get_data_offset(nint context);

        [DllImport("ggml-base")]
        private static extern nuint gguf_get_tensor_offset(nint context, long index);

        [DllImport("ggml-base")]
        private static extern nuint gguf_get_tensor_size(nint context, long index);
    }
}
