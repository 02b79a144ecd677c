using Rope.Simd;
using Rope.Simd.Models;
using Rope.Simd.Samples.LlamaDecoder.Gguf;

namespace Rope.Simd.Tests.Models;

/// <summary>
/// GGUF rope metadata: small files written here as llama.cpp's converters lay them out (header, typed metadata, tensor
/// infos, aligned data), read back by <see cref="GgufFile"/> into the same configurations the scaling methods give;
/// malformed files rejected with <see cref="InvalidDataException"/>, never an allocation a file merely claims.
/// </summary>
public class GgufFileTests
{
    [Fact]
    public void LlamaWithRopeFreqsIsInterleavedWithPerPairFactors()
    {
        double[] factors = [.. Enumerable.Range(0, 32).Select(i => 1 + i / 8.0)];
        var file = new GgufWriter()
            .String("general.architecture", "llama")
            .UInt32("llama.attention.head_count", 8).UInt32("llama.attention.head_count_kv", 2).UInt32("llama.embedding_length", 512)
            .UInt32("llama.rope.dimension_count", 64).Float32("llama.rope.freq_base", 500000).UInt32("llama.context_length", 8192)
            .Strings("tokenizer.ggml.tokens", ["<s>", "</s>", "hello"])
            .Tensor("token_embd.weight", 1, [512, 3], new byte[512 * 3 * 2])
            .Tensor("rope_freqs.weight", 0, [32], Floats(factors));
        RopeModel model = RopeOf(file.Stream());
        Assert.Equal(("llama", RopeLayout.Interleaved, 8, 2), (model.Name, model.Layout, model.QueryHeads, model.KeyValueHeads));
        Assert.Equal((64, 64, (int?)8192), (model.HeadDim, model.RotaryDim, model.MaxPositionEmbeddings));
        double[] floatFactors = [.. factors.Select(f => (double)(float)f)];
        Assert.Equal(RopeScaling.WithFactors(RopeFrequencies.Create(64, (float)500000), floatFactors).InverseFrequencies.ToArray(),
            model.Frequencies.InverseFrequencies.ToArray());
    }

    [Fact]
    public void ScalingKindsMapToTheirSchedules()
    {
        RopeModel Read(string architecture, Action<GgufWriter> keys)
        {
            var writer = new GgufWriter().String("general.architecture", architecture)
                .UInt32($"{architecture}.attention.head_count", 28).UInt32($"{architecture}.attention.key_length", 128)
                .Float32($"{architecture}.rope.freq_base", 1000000).UInt32($"{architecture}.context_length", 131072);
            keys(writer);
            return RopeOf(writer.Stream());
        }

        RopeModel yarn = Read("qwen2", w => w.String("qwen2.rope.scaling.type", "yarn").Float32("qwen2.rope.scaling.factor", 4)
            .UInt32("qwen2.rope.scaling.original_context_length", 32768));
        Assert.Equal(RopeLayout.HalfSplit, yarn.Layout);
        Assert.Equal(RopeScaling.Yarn(128, 1000000, 4, 32768).InverseFrequencies.ToArray(), yarn.Frequencies.InverseFrequencies.ToArray());
        Assert.Equal(RopeScaling.Yarn(128, 1000000, 4, 32768).AttentionFactor, yarn.Frequencies.AttentionFactor);

        RopeModel linear = Read("gemma3", w => w.String("gemma3.rope.scaling.type", "linear").Float32("gemma3.rope.scaling.factor", 8));
        Assert.Equal(RopeScaling.Linear(128, 1000000, 8).InverseFrequencies.ToArray(), linear.Frequencies.InverseFrequencies.ToArray());

        RopeModel sections = Read("qwen2vl", w => w.Int32s("qwen2vl.rope.dimension_sections", [16, 24, 24, 0]));
        Assert.Equal(RopeLayout.HalfSplit, sections.Layout);
        Assert.Equal(MropeSections.Contiguous(16, 24, 24).StreamOf(20), sections.Sections!.StreamOf(20));

        double[] shortFactors = [.. Enumerable.Range(0, 64).Select(i => 1 + i / 100.0)], longFactors = [.. Enumerable.Range(0, 64).Select(i => 1 + i / 10.0)];
        RopeModel longRope = Read("phi3", w => w.String("phi3.rope.scaling.type", "longrope").UInt32("phi3.rope.scaling.original_context_length", 4096)
            .Tensor("rope_factors_long.weight", 0, [64], Floats(longFactors)).Tensor("rope_factors_short.weight", 0, [64], Floats(shortFactors)));
        Assert.Equal(RopeScaling.LongRope(128, 1000000, [.. shortFactors.Select(f => (double)(float)f)], [.. longFactors.Select(f => (double)(float)f)], 4096,
            131072, LongRopeSelection.BySequenceLength).InverseFrequencies.ToArray(), longRope.Frequencies.InverseFrequencies.ToArray());
    }

    [Fact]
    public void DeepSeekYarnLogMultiplierIsItsMscale()
    {
        var writer = new GgufWriter().String("general.architecture", "deepseek2")
            .UInt32("deepseek2.attention.head_count", 128).UInt32("deepseek2.attention.key_length", 192).UInt32("deepseek2.rope.dimension_count", 64)
            .Float32("deepseek2.rope.freq_base", 10000).String("deepseek2.rope.scaling.type", "yarn").Float32("deepseek2.rope.scaling.factor", 40)
            .UInt32("deepseek2.rope.scaling.original_context_length", 4096).Float32("deepseek2.rope.scaling.yarn_log_multiplier", 0.1f);
        RopeModel model = RopeOf(writer.Stream());
        Assert.Equal(RopeLayout.Interleaved, model.Layout);
        Assert.Equal(64, model.RotaryDim);
        Assert.Equal(1.0, model.Frequencies.AttentionFactor, 12);
        Assert.Equal(RopeScaling.DeepSeekSoftmaxScale(40, 0.1f / 0.1), model.SoftmaxScale, 12);
    }

    public static TheoryData<string, byte[]> Malformed
    {
        get
        {
            GgufWriter Valid() => new GgufWriter().String("general.architecture", "llama").UInt32("llama.attention.head_count", 8)
                .UInt32("llama.embedding_length", 512);
            byte[] valid = Valid().Bytes();
            byte[] hugeString = [.. valid[..24], .. BitConverter.GetBytes(ulong.MaxValue / 2)];
            byte[] hugeArray = Valid().RawArray("tokenizer.ggml.scores", 6, ulong.MaxValue / 8).Bytes();
            return new()
            {
                { "not GGUF", [.. "GGML"u8, .. valid[4..]] },
                { "truncated", valid[..60] },
                { "a key claiming 2^63 bytes", hugeString },
                { "an array claiming 2^61 values", hugeArray },
                { "an architecture of unknown rope mode", new GgufWriter().String("general.architecture", "mystery").UInt32("mystery.attention.head_count", 8).Bytes() },
                { "no head count", new GgufWriter().String("general.architecture", "llama").Bytes() },
                { "rope_freqs of the wrong length", Valid().Tensor("rope_freqs.weight", 0, [3], new byte[12]).Bytes() },
                { "rope_freqs in float16", Valid().Tensor("rope_freqs.weight", 1, [32], new byte[64]).Bytes() },
                { "rope_freqs past the end", Valid().Tensor("rope_freqs.weight", 0, [32], new byte[128], offset: 1 << 20).Bytes() },
                { "an odd rotary dim", Valid().UInt32("llama.rope.dimension_count", 63).Bytes() },
                { "an unknown scaling", Valid().String("llama.rope.scaling.type", "magic").Bytes() },
            };
        }
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFilesAreRejectedNamingWhatIsWrong(string what, byte[] bytes)
    {
        var error = Assert.Throws<InvalidDataException>(() => RopeOf(new MemoryStream(bytes)));
        Assert.False(string.IsNullOrEmpty(error.Message), what);
    }

    [Fact]
    public void ArraysOfArraysAreRejectedAtAnyDepth()
    {
        // llama.cpp's reader refuses an array whose elements are arrays; reading them instead would recurse as deep as
        // the file nests them (12 bytes a level), past the end of the stack.
        foreach (int depth in (int[])[1, 1_000_000])
        {
            var file = new MemoryStream();
            var writer = new BinaryWriter(file);
            writer.Write("GGUF"u8);
            writer.Write(3u);
            writer.Write(0ul);
            writer.Write(1ul);
            writer.Write((ulong)"deep".Length);
            writer.Write("deep"u8);
            writer.Write(9u);
            for (int level = 0; level < depth; level++)
            {
                writer.Write(9u);
                writer.Write(1ul);
            }

            writer.Write(4u);
            writer.Write(0ul);
            file.Position = 0;
            var error = Assert.Throws<InvalidDataException>(() => RopeOf(file));
            Assert.Contains("holds arrays", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MutatedFilesEitherReadOrAreRejected()
    {
        byte[] valid = new GgufWriter().String("general.architecture", "qwen2").UInt32("qwen2.attention.head_count", 8)
            .UInt32("qwen2.attention.key_length", 64).Float32("qwen2.rope.freq_base", 1e6f).Strings("tokenizer.ggml.tokens", ["a", "b"])
            .String("qwen2.rope.scaling.type", "yarn").Float32("qwen2.rope.scaling.factor", 4).UInt32("qwen2.rope.scaling.original_context_length", 4096)
            .Tensor("rope_freqs.weight", 0, [32], Floats([.. Enumerable.Repeat(1.0, 32)])).Bytes();
        var random = new Random(7);
        for (int trial = 0; trial < 20000; trial++)
        {
            byte[] bytes = [.. valid];
            for (int flips = random.Next(1, 4); flips > 0; flips--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            try
            {
                RopeOf(new MemoryStream(bytes[..random.Next(bytes.Length / 2, bytes.Length + 1)]));
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    [Fact]
    public void NumericArraysCostNoMoreThanTheFile()
    {
        // A thousand arrays of 4096 numbers (llama.cpp's token scores and the like): none of them rope data.
        var file = new MemoryStream();
        var writer = new BinaryWriter(file);
        const int Arrays = 1000;
        Header(writer, tensors: 0, keys: 3 + Arrays);
        Key(writer, "general.architecture", 8);
        Text(writer, "llama");
        Key(writer, "llama.attention.head_count", 4);
        writer.Write(8u);
        Key(writer, "llama.embedding_length", 4);
        writer.Write(512u);
        for (int i = 0; i < Arrays; i++)
        {
            Key(writer, $"junk.{i}", 9);
            writer.Write(i % 2 == 0 ? 0u : 6u);
            writer.Write(i % 2 == 0 ? 4096ul : 1024ul);
            writer.Write(new byte[4096]);
        }

        byte[] bytes = file.ToArray();
        RopeModel model = null!;
        long before = GC.GetAllocatedBytesForCurrentThread();
        model = RopeOf(new MemoryStream(bytes));
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, bytes.Length / 4);
        Assert.Equal(64, model.RotaryDim);
    }

    [Theory]
    [InlineData(1 << 22)]
    [InlineData(1 << 30)]
    public void RotaryDimIsCheckedBeforeTensorsAreRead(int rotaryDim)
    {
        // A sparse file: a header that places LongRoPE factors of rotaryDim / 2 values in data the file only claims.
        ulong pairs = (ulong)rotaryDim / 2;
        byte[] header = new GgufWriter().String("general.architecture", "phi3").UInt32("phi3.attention.head_count", 1)
            .UInt32("phi3.attention.key_length", (uint)rotaryDim).UInt32("phi3.rope.dimension_count", (uint)rotaryDim)
            .UInt32("phi3.context_length", 131072).String("phi3.rope.scaling.type", "longrope").UInt32("phi3.rope.scaling.original_context_length", 4096)
            .Tensor("rope_factors_short.weight", 0, [pairs], [], offset: 0).Tensor("rope_factors_long.weight", 0, [pairs], [], offset: pairs * 4).Bytes();
        using var stream = new SparseStream(header, header.Length + 2 * (long)pairs * 4);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => RopeOf(stream));
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
        Assert.Contains("phi3.rope.dimension_count", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DimensionSectionsThatWrapIn64BitsAreRejected()
    {
        // Three non-negative sections whose 64-bit sum wraps to 64, and whose low 32 bits are 16, 24 and 24.
        long[] sections = [long.MaxValue - uint.MaxValue + 16, long.MaxValue - uint.MaxValue + 24, (1L << 33) + 24, 0];
        var file = new MemoryStream();
        var writer = new BinaryWriter(file);
        Header(writer, tensors: 0, keys: 4);
        Key(writer, "general.architecture", 8);
        Text(writer, "qwen2vl");
        Key(writer, "qwen2vl.attention.head_count", 4);
        writer.Write(8u);
        Key(writer, "qwen2vl.attention.key_length", 4);
        writer.Write(128u);
        Key(writer, "qwen2vl.rope.dimension_sections", 9);
        writer.Write(11u);
        writer.Write((ulong)sections.Length);
        foreach (long section in sections)
        {
            writer.Write(section);
        }

        file.Position = 0;
        var error = Assert.Throws<InvalidDataException>(() => RopeOf(file));
        Assert.Contains("rope.dimension_sections", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MetadataTheTensorDirectoryAndTensorsReadBack()
    {
        float[] weights = [1.5f, -2, 0.25f, 3, 4, 5];
        Half[] halves = [(Half)1, (Half)(-0.5), Half.MaxValue, (Half)0.0001];
        byte[] bytes = new GgufWriter().String("general.architecture", "llama").UInt32("llama.attention.head_count", 8)
            .UInt32("llama.embedding_length", 512).Float32("llama.attention.layer_norm_rms_epsilon", 1e-5f).Strings("tokenizer.ggml.tokens", ["a", "b"])
            .Tensor("w32", GgufWriter.TypeF32, [3, 2], [.. weights.SelectMany(BitConverter.GetBytes)])
            .Tensor("w16", GgufWriter.TypeF16, [4], [.. halves.SelectMany(BitConverter.GetBytes)]).Bytes();
        var stream = new MemoryStream(bytes);
        GgufFile file = GgufFile.Read(stream, leaveOpen: true);
        using (file)
        {
            Assert.Equal((8L, 512L), (file.GetInteger("llama.attention.head_count"), file.GetInteger("llama.embedding_length")));
            Assert.Equal(1e-5f, (float)file.GetNumber("llama.attention.layer_norm_rms_epsilon")!.Value);
            Assert.Equal(8.0, file.GetNumber("llama.attention.head_count"));
            Assert.Equal("llama", file.GetString("general.architecture"));
            Assert.True(file.ContainsKey("tokenizer.ggml.tokens"));
            Assert.Equal((null, null, null), (file.GetInteger("absent"), file.GetNumber("absent"), file.GetString("absent")));
            Assert.Throws<InvalidDataException>(() => file.GetInteger("general.architecture"));
            Assert.Throws<InvalidDataException>(() => file.GetString("tokenizer.ggml.tokens"));

            Assert.Equal(2, file.Tensors.Count);
            GgufTensor w32 = file.Tensors["w32"];
            Assert.Equal(("w32", 6L, 0u, 0ul), (w32.Name, w32.ElementCount, w32.Type, w32.Offset));
            Assert.Equal([3L, 2L], w32.Shape);
            Assert.Equal((1u, 32ul), (file.Tensors["w16"].Type, file.Tensors["w16"].Offset));
            Assert.Equal(weights, file.ReadTensor("w32"));
            Assert.Equal(halves.Select(h => (float)h), file.ReadTensor("w16"));
            Assert.Throws<InvalidDataException>(() => file.ReadTensor("absent"));
            Assert.Equal(RopeLayout.Interleaved, file.ReadRopeModel().Layout);
        }

        Assert.Throws<ObjectDisposedException>(() => file.ReadTensor("w32"));
        Assert.True(stream.CanRead);   // left open

        // A failed read disposes the stream it owns.
        var owned = new MemoryStream([.. "GGML"u8, .. bytes[4..]]);
        Assert.Throws<InvalidDataException>(() => GgufFile.Read(owned));
        Assert.False(owned.CanRead);
    }

    [Fact]
    public void TensorsListedTwiceMisalignedPastTheEndOrQuantizedAreRefused()
    {
        GgufWriter Valid() => new GgufWriter().String("general.architecture", "llama").UInt32("llama.attention.head_count", 8)
            .UInt32("llama.embedding_length", 512);
        Assert.Contains("listed twice", Assert.Throws<InvalidDataException>(() =>
            GgufFile.Read(Valid().Tensor("a", 0, [4], new byte[16]).Tensor("a", 0, [4], new byte[16]).Stream())).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => GgufFile.Read(Valid().Tensor("a", 0, [1UL << 40, 1UL << 40], [], offset: 0).Stream()));

        foreach ((GgufWriter writer, string message) in new[]
        {
            (Valid().Tensor("a", 0, [4], new byte[16], offset: 4), "not a multiple of the alignment"),
            (Valid().Tensor("a", 0, [4], new byte[16], offset: 1 << 20), "outside the file"),
            (Valid().Tensor("a", 2, [32], new byte[18]), "ggml type 2"),
        })
        {
            using GgufFile file = GgufFile.Read(writer.Stream());
            Assert.Contains(message, Assert.Throws<InvalidDataException>(() => file.ReadTensor("a")).Message, StringComparison.Ordinal);
        }
    }

    /// <summary>The rope model of a GGUF file held by a stream: its header read, then its rotary part.</summary>
    private static RopeModel RopeOf(Stream stream)
    {
        using GgufFile file = GgufFile.Read(stream);
        return file.ReadRopeModel();
    }

    private static void Header(BinaryWriter writer, ulong tensors, ulong keys)
    {
        writer.Write("GGUF"u8);
        writer.Write(3u);
        writer.Write(tensors);
        writer.Write(keys);
    }

    private static void Key(BinaryWriter writer, string key, uint type)
    {
        Text(writer, key);
        writer.Write(type);
    }

    private static void Text(BinaryWriter writer, string text)
    {
        writer.Write((ulong)System.Text.Encoding.UTF8.GetByteCount(text));
        writer.Write(System.Text.Encoding.UTF8.GetBytes(text));
    }

    /// <summary>A file of <paramref name="length"/> bytes whose first bytes are <paramref name="head"/> and the rest zeros, held in memory as its head alone.</summary>
    private sealed class SparseStream(byte[] head, long length) : Stream
    {
        private long position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => position; set => position = value; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int read = (int)Math.Clamp(length - position, 0, count);
            for (int i = 0; i < read; i++)
            {
                buffer[offset + i] = position + i < head.Length ? head[position + i] : (byte)0;
            }

            position += read;
            return read;
        }

        public override long Seek(long offset, SeekOrigin origin) =>
            position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => position + offset, _ => length + offset };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static byte[] Floats(double[] values) => [.. values.SelectMany(v => BitConverter.GetBytes((float)v))];
}
