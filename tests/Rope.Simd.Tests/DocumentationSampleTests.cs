using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Rope.Simd;
using Rope.Simd.Models;
using Rope.Simd.Tensors;
using Rope.Simd.Samples.LlamaDecoder.Gguf;

namespace Rope.Simd.Tests;

/// <summary>
/// The C# samples of the README, the package readme and docs/, verbatim, so they keep compiling and running; a test
/// checks that every sample in those pages appears in this file.
/// </summary>
public partial class DocumentationSampleTests
{
    /// <summary>Pages copied next to the tests (see the project file), this file among them.</summary>
    private static readonly string DocumentationFolder = Path.Combine(AppContext.BaseDirectory, "Documentation");

    public static TheoryData<string> Pages() => [.. PageNames()];

    [Fact]
    public void ThePagesAreThere()
    {
        string[] pages = PageNames();
        Assert.Contains("README.md", pages);
        Assert.Contains("PackageReadme.md", pages);
        Assert.Contains(Path.Combine("docs", "usage.md"), pages);
        Assert.Contains(Path.Combine("Tensors", "PackageReadme.md"), pages);
        Assert.Contains(Path.Combine("Models", "PackageReadme.md"), pages);
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void EverySampleOfThePageIsRunHere(string page)
    {
        string tests = Normalize(File.ReadAllText(Path.Combine(DocumentationFolder, "DocumentationSampleTests.cs")));
        string text = File.ReadAllText(Path.Combine(DocumentationFolder, page));
        foreach (Match sample in CSharpBlock().Matches(text))
        {
            string code = Normalize(sample.Groups[1].Value);
            Assert.True(tests.Contains(code, StringComparison.Ordinal), $"{page}: this sample is not in the tests:\n{sample.Groups[1].Value}");
        }
    }

    private static string[] PageNames() =>
        [.. Directory.GetFiles(DocumentationFolder, "*.md", SearchOption.AllDirectories)
            .Select(page => Path.GetRelativePath(DocumentationFolder, page)).Order(StringComparer.Ordinal)];

    /// <summary>Trimmed lines without blank lines and <c>using</c> directives (the tests' own are at the top).</summary>
    private static string Normalize(string code) =>
        string.Join('\n', code.Split('\n').Select(line => line.Trim())
            .Where(line => line.Length > 0 && !(line.StartsWith("using ", StringComparison.Ordinal) && line.EndsWith(';'))));

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [Fact]
    public void UsageQkNormNormalizesAndRotatesInOnePass()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 4096, @base: 1000000);   // Qwen3-8B: theta 1e6, NEOX pairs
        var queryShape = new RopeShape(tokens: 16, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 16, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];
        float[] qNormWeight = new float[128], kNormWeight = new float[128];   // the model's q_norm.weight and k_norm.weight
        Array.Fill(qNormWeight, 1f);
        Array.Fill(kNormWeight, 1f);

        RopeEngine.Default.ApplyWithNorm(table, queries, queryShape, RopeHeadNorm.Rms(qNormWeight, epsilon: 1e-6f),
            keys, keyShape, RopeHeadNorm.Rms(kNormWeight, epsilon: 1e-6f), positions: 0, RopeLayout.HalfSplit);

        // Zero heads stay zero; a head of threes has RMS 3, so at position 0 it becomes ones.
        Assert.All(queries, value => Assert.Equal(0f, value));
        queries.AsSpan().Fill(3f);
        RopeEngine.Default.ApplyWithNorm(table, queries, queryShape, RopeHeadNorm.Rms(qNormWeight, epsilon: 1e-6f), 0, RopeLayout.HalfSplit);
        Assert.All(queries.AsSpan(0, 128).ToArray(), value => Assert.Equal(1f, value, 1e-5f));
    }

    [Fact]
    public void UsageKvCacheAppendWritesTheCachesPlaces()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 4096, @base: 500000);
        var queryShape = new RopeShape(tokens: 4, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 4, heads: 8, headDim: 128);             // values share the keys' shape
        float[] queries = new float[queryShape.RequiredLength];
        float[] keys = new float[keyShape.RequiredLength], values = new float[keyShape.RequiredLength];

        // A bfloat16 cache of 4096 positions, [position][kvHead][headDim]; the 4 tokens go to positions 100..103.
        var keyCache = new BFloat16[4096 * 8 * 128];
        var valueCache = new BFloat16[4096 * 8 * 128];
        var cache = RopeKvCache<BFloat16>.PositionMajor(keyCache, valueCache, batch: 1, capacity: 4096, heads: 8, headDim: 128);
        RopeEngine.Default.ApplyAndAppend(table, queries, queryShape, keys, values, keyShape, cache, positions: 100, RopeLayout.HalfSplit);

        // Zero keys and values land as zeros at positions 100..103; a one lands as a one.
        Assert.All(keyCache.AsSpan(100 * 8 * 128, 4 * 8 * 128).ToArray(), value => Assert.Equal(0f, (float)value));
        values[0] = 1f;
        cache = RopeKvCache<BFloat16>.PositionMajor(keyCache, valueCache, batch: 1, capacity: 4096, heads: 8, headDim: 128);
        RopeEngine.Default.ApplyAndAppend(table, queries, queryShape, keys, values, keyShape, cache, positions: 100, RopeLayout.HalfSplit);
        Assert.Equal(1f, (float)valueCache[100 * 8 * 128]);
    }

    [Fact]
    public void UsagePackedQkvAppendNormalizesRotatesAndCaches()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 4096, @base: 1000000);   // Qwen3-8B
        var packing = new RopePackedQkv(tokens: 4, queryHeads: 32, kvHeads: 8, headDim: 128);
        float[] qkv = new float[packing.RequiredLength];                                      // [token][(32 + 8 + 8) x 128]
        float[] qNormWeight = new float[128], kNormWeight = new float[128];
        Array.Fill(qNormWeight, 1f);
        Array.Fill(kNormWeight, 1f);

        var keyCache = new Half[4096 * 8 * 128];
        var valueCache = new Half[4096 * 8 * 128];
        var cache = RopeKvCache<Half>.PositionMajor(keyCache, valueCache, batch: 1, capacity: 4096, heads: 8, headDim: 128);
        RopeEngine.Default.ApplyAndAppend(table, qkv, packing, RopeHeadNorm.Rms(qNormWeight, 1e-6f), RopeHeadNorm.Rms(kNormWeight, 1e-6f),
            cache, positions: 100, RopeLayout.HalfSplit);

        // Key heads of threes have RMS 3: normalized to ones, rotated at position 100, cached; values of twos cached as twos.
        qkv.AsSpan(packing.KeyOffset, 8 * 128).Fill(3f);
        qkv.AsSpan(packing.ValueOffset, 8 * 128).Fill(2f);
        cache = RopeKvCache<Half>.PositionMajor(keyCache, valueCache, batch: 1, capacity: 4096, heads: 8, headDim: 128);
        RopeEngine.Default.ApplyAndAppend(table, qkv, packing, RopeHeadNorm.Rms(qNormWeight, 1e-6f), RopeHeadNorm.Rms(kNormWeight, 1e-6f),
            cache, positions: 100, RopeLayout.HalfSplit);
        ReadOnlySpan<float> row = table.Rows.Slice(100 * 128, 128);
        Assert.Equal(row[0] - row[1], (float)keyCache[100 * 8 * 128], 2e-3f);   // pair 0: (1, 1) rotated by (c, s) gives c - s first
        Assert.Equal(2f, (float)valueCache[100 * 8 * 128]);
    }

    [Fact]
    public void ScalingGgufSampleReadsAModelFile()
    {
        string ggufPath = Path.Combine(Directory.CreateTempSubdirectory().FullName, "model.gguf");
        File.WriteAllBytes(ggufPath, new GgufWriter().String("general.architecture", "llama").UInt32("llama.attention.head_count", 32)
            .UInt32("llama.embedding_length", 4096).Float32("llama.rope.freq_base", 500000).Bytes());

        using GgufFile file = GgufFile.Open(ggufPath);   // a llama.cpp model file
        RopeModel model = file.ReadRopeModel();          // llama: interleaved pairs, 32 heads of 128
        var table = model.CreateTable(8192);             // rotate with model.Layout

        Assert.Equal((RopeLayout.Interleaved, 128), (model.Layout!.Value, table.RotaryDim));
        file.Dispose();
        File.Delete(ggufPath);
    }

    [Fact]
    public void QuickStartPrintsScoresThatDependOnlyOnTheDistance()
    {
        // LLaMA-3-8B's rotary settings: head dim 128, base 500000, half-split pairs (Hugging Face weights).
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 8192, @base: 500000);
        var oneHead = new RopeShape(tokens: 1, heads: 1, headDim: 128);
        float[] query = [.. Enumerable.Range(0, 128).Select(i => MathF.Sin(i + 1))];
        float[] key = [.. Enumerable.Range(0, 128).Select(i => MathF.Cos(3 * i))];

        // Attention score of the query at one position and the key at another, after rotating both.
        float Score(int queryPosition, int keyPosition)
        {
            float[] q = [.. query], k = [.. key];
            RopeEngine.Default.Apply(table, q, oneHead, positions: queryPosition, RopeLayout.HalfSplit);
            RopeEngine.Default.Apply(table, k, oneHead, positions: keyPosition, RopeLayout.HalfSplit);
            return q.Zip(k, (a, b) => a * b).Sum();
        }

        Console.WriteLine($"path {RopeEngine.Default.Path} (this CPU runs up to {RopeEngine.CpuWidestPath})");
        Console.WriteLine($"q at    10, k at    7: {Score(10, 7),8:F3}");
        Console.WriteLine($"q at  5010, k at 5007: {Score(5010, 5007),8:F3}   same distance, same score");
        Console.WriteLine($"q at    10, k at    0: {Score(10, 0),8:F3}");

        // The figures the README prints, on every path.
        Assert.Equal("0.870", Score(10, 7).ToString("F3", CultureInfo.InvariantCulture));
        Assert.Equal("0.870", Score(5010, 5007).ToString("F3", CultureInfo.InvariantCulture));
        Assert.Equal("3.343", Score(10, 0).ToString("F3", CultureInfo.InvariantCulture));
        Assert.Equal(Score(10, 7), Score(5010, 5007), 1e-3f);
    }

    [Fact]
    public void RuntimeSampleRotatesPrefillDecodeAndShiftsTheCache()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 8192, @base: 500000);

        var queryShape = new RopeShape(tokens: 512, heads: 32, headDim: 128);   // [tokens][heads][headDim]
        var keyShape = new RopeShape(tokens: 512, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength];
        float[] keys = new float[keyShape.RequiredLength];

        // Prefill: tokens at positions 0..511, queries and keys in one pass, in place.
        RopeEngine.Default.Apply(table, queries, queryShape, keys, keyShape, positions: 0, RopeLayout.HalfSplit);

        // Decode: one token at position 512.
        var oneQuery = new RopeShape(tokens: 1, heads: 32, headDim: 128);
        var oneKey = new RopeShape(tokens: 1, heads: 8, headDim: 128);
        RopeEngine.Default.Apply(table, queries.AsSpan(0, 4096), oneQuery, keys.AsSpan(0, 1024), oneKey, positions: 512, RopeLayout.HalfSplit);

        // Context shift: move cached keys back by 100 positions (rotate by -100·ω).
        int[] delta = [.. Enumerable.Repeat(100, 512)];
        RopeEngine.Default.Apply(table, keys, keyShape, positions: delta, RopeLayout.HalfSplit, inverse: true);

        Assert.All(queries, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void PathSampleListsEveryPathWidestFirst()
    {
        if (RopeEngine.CpuWidestPath > RopeEngine.Default.Path)
        {
            Console.WriteLine($"Rope.Simd runs {RopeEngine.Default.Path}, but this CPU has {RopeEngine.CpuWidestPath}: " +
                              "publish with -p:IlcInstructionSet=native (NativeAOT) or drop the DOTNET_ ISA settings.");
        }

        foreach (RopeEngine engine in RopeEngine.Supported)
        {
            Console.WriteLine(engine.Path);
        }

        Assert.Equal(RopeEngine.Default.Path, RopeEngine.Supported[0].Path);
        Assert.Equal(RopePath.Scalar, RopeEngine.Supported[^1].Path);
    }

    [Fact]
    public void SixteenBitSampleRuns()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 8192, @base: 500000);   // float32 whatever the activations
        var shape = new RopeShape(tokens: 16, heads: 32, headDim: 128);

        // bfloat16 kept as raw ushort (as read from a checkpoint): reinterpret in place, no copy.
        ushort[] raw = new ushort[shape.RequiredLength];
        Span<BFloat16> queries = MemoryMarshal.Cast<ushort, BFloat16>(raw.AsSpan());
        RopeEngine.Default.Apply(table, queries, shape, positions: 100, RopeLayout.HalfSplit);

        // float16 is System.Half; every float32 overload exists for both types (GQA, out of place, strides, inverse).
        Half[] halfKeys = new Half[shape.RequiredLength];
        RopeEngine.Default.Apply(table, halfKeys, shape, positions: 100, RopeLayout.HalfSplit);

        // Span conversions, vectorized on every path: the same bits as the scalar casts.
        float[] widened = new float[shape.RequiredLength];
        RopeEngine.Default.ConvertToSingle(queries, widened);
        RopeEngine.Default.ConvertToBFloat16(widened, queries);
        RopeEngine.Default.ConvertToHalf(widened, halfKeys);

        Assert.All(widened, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void ScalingSampleRuns()
    {
        // LLaMA 3.1: llama3 scaling, factor 8, original context 8192.
        var llama31 = RopeTable.Create(RopeScaling.Llama3(128, 500000, factor: 8, originalMaxPositionEmbeddings: 8192), 0, 131072);

        // Qwen2.5 with YaRN factor 4 over 32768 (A = 0.1·ln 4 + 1, applied to the table).
        var qwen = RopeTable.Create(RopeScaling.Yarn(128, 1000000, factor: 4, originalMaxPositionEmbeddings: 32768), 0, 131072);

        // DeepSeek-V2: YaRN with mscale = mscale_all_dim, so A = 1; the softmax scale takes mscale² instead.
        var deepSeek = RopeScaling.Yarn(64, 10000, 40, 4096, mscale: 0.707, mscaleAllDim: 0.707);
        double softmaxScale = RopeScaling.DeepSeekSoftmaxScale(40, 0.707) / Math.Sqrt(192);

        Assert.Equal(131072, llama31.PositionCount);
        Assert.Equal(1 + 0.1 * Math.Log(4), qwen.Frequencies.AttentionFactor, 15);
        Assert.Equal(1.0, deepSeek.AttentionFactor);
        Assert.Equal(1.5896261651208736 / Math.Sqrt(192), softmaxScale, 15);
    }

    [Fact]
    public void ConfigSampleRuns()
    {
        string json = """
            { "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 131072, "rope_theta": 500000.0,
              "rope_scaling": { "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192 } }
            """;
        RopeModel model = HuggingFaceConfig.Parse(json);   // Rope.Simd.Models: head dim 128, llama3 scaling
        var table = model.CreateTable(8192);

        Assert.Equal((128, "llama3"), (model.HeadDim, model.ScalingType));
        Assert.Equal(8192, table.PositionCount);
    }

    [Fact]
    public void ParallelSampleRuns()
    {
        var table = RopeTable.Create(rotaryDim: 128, positionCount: 8192, @base: 500000);
        var queryShape = new RopeShape(tokens: 512, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 512, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];

        // At most 2 threads per call, the calling thread included; keep the engine and reuse it.
        RopeEngine parallel = RopeEngine.Default.WithParallelism(maxDegreeOfParallelism: 2);
        parallel.Apply(table, queries, queryShape, keys, keyShape, positions: 0, RopeLayout.HalfSplit);

        Assert.Equal(2, parallel.MaxDegreeOfParallelism);
    }

    [Fact]
    public void RowsComputedPerCallSampleRuns()
    {
        RopeFrequencies frequencies = RopeFrequencies.Create(rotaryDim: 128, @base: 500000);   // or any RopeScaling schedule
        var queryShape = new RopeShape(tokens: 1, heads: 32, headDim: 128);
        var keyShape = new RopeShape(tokens: 1, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];

        // Any position in [0, 2^31): the row is computed for this call, once, for all 40 heads.
        RopeEngine.Default.Apply(frequencies, queries, queryShape, keys, keyShape, positions: 1_000_000, RopeLayout.HalfSplit);

        Assert.All(keys, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void CallerCacheSampleRotatesABatchWithInt64Positions()
    {
        // A vLLM-style cache the runtime already holds: one row [cos_0 .. cos_63 | sin_0 .. sin_63] per position.
        float[] cosSinCache = new float[4096 * 128];
        RopeTableFormats.ToCosThenSin(RopeTable.Create(rotaryDim: 128, positionCount: 4096, @base: 500000).Rows, 128, cosSinCache);

        // Two sequences of 16 tokens, [batch][tokens][heads][headDim], with int64 position ids laid out [batch][tokens].
        var queryShape = RopeShape.Bshd(batch: 2, tokens: 16, heads: 32, headDim: 128);
        var keyShape = RopeShape.Bshd(batch: 2, tokens: 16, heads: 8, headDim: 128);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];
        long[] positionIds = [.. Enumerable.Range(100, 16).Select(p => (long)p), .. Enumerable.Range(0, 16).Select(p => (long)p)];

        RopeEngine.Default.Apply(RopeRows.CosThenSin<float>(cosSinCache, rotaryDim: 128), queries, queryShape, keys, keyShape,
            positionIds, RopeLayout.HalfSplit);

        Assert.Equal(4096, RopeRows.CosThenSin<float>(cosSinCache, rotaryDim: 128).PositionCount);
        Assert.All(keys, value => Assert.Equal(0f, value));
    }

    [Fact]
    public void ModelsSampleRotatesAPresetsShapes()
    {
        // A preset, a config.json (HuggingFaceConfig.Load) or a GGUF file (GgufFile.ReadRopeModel): one RopeModel.
        RopeModel llama = RopeModelPresets.Llama31_8B;   // 32 query and 8 KV heads of 128, llama3 scaling, half-split
        RopeTable table = llama.CreateTable(positionCount: 8192);

        RopeShape queryShape = llama.QueryShape(tokens: 16), keyShape = llama.KeyShape(tokens: 16);
        float[] queries = new float[queryShape.RequiredLength], keys = new float[keyShape.RequiredLength];
        RopeEngine.Default.Apply(table, queries, queryShape, keys, keyShape, positions: 0, llama.Layout ?? RopeLayout.HalfSplit);

        Assert.Equal((16 * 32 * 128, 16 * 8 * 128, 8192, "llama3"), (queries.Length, keys.Length, table.PositionCount, llama.ScalingType));
    }

    [Fact]
    public void TensorSampleRotatesATensorView()
    {
        var table = RopeTable.Create(rotaryDim: 64, positionCount: 4096);
        Tensor<float> queries = Tensor.CreateFromShape<float>([2, 16, 8, 64]);   // [batch, tokens, heads, headDim]
        RopeEngine.Default.Apply(table, queries.AsTensorSpan(), RopeTensorLayout.Bshd, positions: 0, RopeLayout.HalfSplit);

        Assert.Equal(2 * 16 * 8 * 64, queries.FlattenedLength);
    }
}
