using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using System.Runtime.InteropServices;

namespace Rope.Simd.Bench;

/// <summary>
/// The full BenchmarkDotNet suite (<c>-- --full</c>): real model shapes, decode and prefills, every element type and
/// layout, queries and keys in one call, with the same-bytes limit as baseline, one job per ISA level through the
/// environment knobs that work on .NET 10, and the disassembly diagnoser. Further arguments go to BenchmarkDotNet
/// (e.g. <c>--filter *Llama*</c>); <c>--headline</c> keeps the cases docs/performance.md reports (LLaMA-3-8B, decode and
/// 512-token prefill, float32 and bfloat16, half-split), about 15 minutes on 2 cores.
/// </summary>
public static class FullSuite
{
    public static void Run(string[] arguments)
    {
        bool headline = arguments.Contains("--headline");
        arguments = [.. arguments.Where(argument => argument != "--headline")];
        string results = Path.Combine(Path.GetDirectoryName(ResultFile.Directory)!, "full");
        IConfig config = DefaultConfig.Instance
            .AddJob(IsaJob("default"))
            .AddJob(IsaJob("AVX2", ("DOTNET_EnableAVX512", "0")))
            .AddJob(IsaJob("SSE", ("DOTNET_EnableAVX2", "0")))
            .AddJob(IsaJob("Scalar", ("DOTNET_EnableHWIntrinsic", "0")))
            .AddDiagnoser(new DisassemblyDiagnoser(new DisassemblyDiagnoserConfig(maxDepth: 3)))
            .AddExporter(MarkdownExporter.GitHub, JsonExporter.Full)
            .WithArtifactsPath(results);
        if (headline)
        {
            config = config.AddFilter(new SimpleFilter(IsHeadlineCase));
        }

        string[] selection = arguments.Contains("--filter") ? arguments : [.. arguments, "--filter", "*"];
        BenchmarkSwitcher.FromTypes([typeof(RotationBenchmarks)]).Run(selection, config);
    }

    private static bool IsHeadlineCase(BenchmarkCase benchmark)
    {
        object? Value(string name) => benchmark.Parameters.Items.FirstOrDefault(p => p.Name == name)?.Value;
        return Value(nameof(RotationBenchmarks.Model)) is ModelShape { Name: "LLaMA-3-8B" }
            && Value(nameof(RotationBenchmarks.Tokens)) is 1 or 512
            && Value(nameof(RotationBenchmarks.Type)) is "float32" or "bfloat16"
            && Value(nameof(RotationBenchmarks.Layout)) is RopeLayout.HalfSplit;
    }

    private static Job IsaJob(string id, params (string Name, string Value)[] knobs) =>
        Job.ShortRun.WithEnvironmentVariables([.. knobs.Select(k => new BenchmarkDotNet.Jobs.EnvironmentVariable(k.Name, k.Value))]).WithId(id);
}

/// <summary>A model's attention shape: query and key heads, head dim and rotary dim (rope-math.md section 4).</summary>
public sealed record ModelShape(string Name, int QueryHeads, int KeyHeads, int HeadDim, int RotaryDim, double Base)
{
    public override string ToString() => Name;
}

/// <summary>
/// Queries and keys of one model rotated in one call (with a table, with rows computed per call, and on 2 threads),
/// against an in-place read-modify-write of the same bytes.
/// </summary>
public unsafe class RotationBenchmarks
{
    private static readonly RopeEngine TwoThreads = RopeEngine.Default.WithParallelism(2);
    private AlignedBuffer? queries, keys;
    private Action<Span<float>> limitLoop = _ => { };
    private RopeTable? table;
    private RopeShape queryShape, keyShape;

    public static IEnumerable<ModelShape> Models =>
    [
        new("LLaMA-3-8B", 32, 8, 128, 128, 500000),
        new("Qwen2-7B", 28, 4, 128, 128, 1000000),
        new("Phi-3-mini", 32, 32, 96, 96, 10000),
        new("Gemma-7B", 16, 16, 256, 256, 10000),
        new("GPT-J-6B", 16, 16, 256, 64, 10000),
    ];

    [ParamsSource(nameof(Models))]
    public ModelShape Model { get; set; } = null!;

    [Params(1, 512, 4096)]
    public int Tokens { get; set; }

    [Params("float32", "bfloat16", "float16")]
    public string Type { get; set; } = "float32";

    [Params(RopeLayout.Interleaved, RopeLayout.HalfSplit)]
    public RopeLayout Layout { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        queryShape = new RopeShape(Tokens, Model.QueryHeads, Model.HeadDim);
        keyShape = new RopeShape(Tokens, Model.KeyHeads, Model.HeadDim);
        table = RopeTable.Create(Model.RotaryDim, Tokens, Model.Base);
        int bytesPerElement = Type == "float32" ? 4 : 2;
        queries = new AlignedBuffer(queryShape.RequiredLength * bytesPerElement / 4);
        keys = new AlignedBuffer(keyShape.RequiredLength * bytesPerElement / 4);
        var random = new Random(1);
        foreach (AlignedBuffer buffer in (ReadOnlySpan<AlignedBuffer>)[queries, keys])
        {
            for (int i = 0; i < buffer.Length; i++)
            {
                // Small values whatever the element type (two 16-bit halves of a float are two finite numbers).
                buffer.Span[i] = BitConverter.Int32BitsToSingle(0x3C00_3C00 + random.Next(0x100));
            }
        }

        // Bit flips keep both 16-bit halves and the float32 normal numbers, so one loop serves every element type.
        limitLoop = BandwidthLimit.Fastest(BandwidthLimit.Operation.FlipBits, queries, keys).Loop;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        queries?.Dispose();
        keys?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "limit: fastest same-bytes read-modify-write loop (chosen at setup)")]
    public void Limit()
    {
        limitLoop(queries!.Span);
        limitLoop(keys!.Span);
    }

    [Benchmark(Description = "Rope.Simd default path, queries and keys")]
    public void Rotate() => Apply(RopeEngine.Default, computedRows: false);

    [Benchmark(Description = "Rope.Simd, rows computed per call")]
    public void RotateWithComputedRows() => Apply(RopeEngine.Default, computedRows: true);

    [Benchmark(Description = "Rope.Simd on 2 threads")]
    public void RotateOnTwoThreads() => Apply(TwoThreads, computedRows: false);

    private void Apply(RopeEngine engine, bool computedRows)
    {
        RopeFrequencies frequencies = table!.Frequencies;
        switch (Type)
        {
            case "float32" when computedRows:
                engine.Apply(frequencies, queries!.Span, queryShape, keys!.Span, keyShape, 0, Layout);
                break;
            case "float32":
                engine.Apply(table, queries!.Span, queryShape, keys!.Span, keyShape, 0, Layout);
                break;
            case "bfloat16" when computedRows:
                engine.Apply(frequencies, Bits<BFloat16>(queries!), queryShape, Bits<BFloat16>(keys!), keyShape, 0, Layout);
                break;
            case "bfloat16":
                engine.Apply(table, Bits<BFloat16>(queries!), queryShape, Bits<BFloat16>(keys!), keyShape, 0, Layout);
                break;
            case "float16" when computedRows:
                engine.Apply(frequencies, Bits<Half>(queries!), queryShape, Bits<Half>(keys!), keyShape, 0, Layout);
                break;
            default:
                engine.Apply(table, Bits<Half>(queries!), queryShape, Bits<Half>(keys!), keyShape, 0, Layout);
                break;
        }
    }

    private static Span<T> Bits<T>(AlignedBuffer buffer)
        where T : struct => MemoryMarshal.Cast<float, T>(buffer.Span);
}
