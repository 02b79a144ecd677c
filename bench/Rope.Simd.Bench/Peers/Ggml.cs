using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Rope.Simd.Bench.Peers;

/// <summary>
/// llama.cpp's ggml, through the native libraries that NuGet <c>LLamaSharp.Backend.Cpu</c> ships: <c>ggml_rope_ext_inplace</c>
/// on a [tokens][heads][headDim] tensor (ne0 = headDim), mode 0 (interleaved) or 2 (NEOX, half-split), float32 or
/// float16, computed through the CPU backend, which keeps its work buffer between calls; or, for QK norm, the graph
/// <c>ggml_rms_norm</c> → <c>ggml_mul</c> by the weights → <c>ggml_rope_ext</c> that llama.cpp builds for Qwen3.
/// </summary>
internal sealed unsafe partial class Ggml : IDisposable
{
    public const int TypeF32 = 0, TypeF16 = 1;
    private const int TypeI32 = 26;
    private const string Base = "ggml-base", Cpu = "ggml-cpu";

    /// <summary>The name <see cref="LlamaCpp"/> imports llama.cpp's own library by (resolved by <see cref="Load"/>).</summary>
    internal const string Llama = "llama";

    private readonly nint context, backend, graph, values, output;
    private readonly int elements;

    private Ggml(int tokens, int start, int heads, int headDim, int type, RopeLayout layout, double @base, int threads, ReadOnlySpan<float> normWeights = default,
        float epsilon = 0)
    {
        int elementSize = type == TypeF32 ? 4 : 2;
        elements = tokens * heads * headDim;
        // Room for the values, the positions and, with a norm, the weights, two intermediate tensors and the output.
        var parameters = new InitParams { MemorySize = (nuint)(4 * elements * elementSize + tokens * 4 + headDim * 4 + (1 << 20)) };
        context = ggml_init(parameters);
        values = ggml_new_tensor_3d(context, type, headDim, heads, tokens);
        nint positions = ggml_new_tensor_1d(context, TypeI32, tokens);
        var positionData = new Span<int>((void*)ggml_get_data(positions), tokens);
        for (int i = 0; i < tokens; i++)
        {
            positionData[i] = start + i;
        }

        int mode = layout == RopeLayout.Interleaved ? 0 : 2;
        if (normWeights.IsEmpty)
        {
            output = ggml_rope_ext_inplace(context, values, positions, 0, headDim, mode, 0, (float)@base, 1, 0, 1, 0, 0);
        }
        else
        {
            nint weights = ggml_new_tensor_1d(context, TypeF32, headDim);
            normWeights.CopyTo(new Span<float>((void*)ggml_get_data(weights), headDim));
            nint normalized = ggml_mul(context, ggml_rms_norm(context, values, epsilon), weights);
            output = ggml_rope_ext(context, normalized, positions, 0, headDim, mode, 0, (float)@base, 1, 0, 1, 0, 0);
        }

        graph = ggml_new_graph(context);
        ggml_build_forward_expand(graph, output);
        backend = ggml_backend_cpu_init();
        ggml_backend_cpu_set_n_threads(backend, threads);
    }

    /// <summary>Why ggml could not load, or null once it has.</summary>
    public static string? LoadError { get; } = Load();

    /// <summary>The tensor's memory: float or Half elements, [tokens][heads][headDim].</summary>
    public Span<T> Values<T>()
        where T : unmanaged => new((void*)ggml_get_data(values), elements);

    /// <summary>The result's memory: the values themselves when rotated in place, the graph's output tensor after a norm.</summary>
    public Span<T> Output<T>()
        where T : unmanaged => new((void*)ggml_get_data(output), elements);

    public static Ggml? TryCreate(int tokens, int start, int heads, int headDim, int type, RopeLayout layout, double @base, int threads) =>
        LoadError is null ? new Ggml(tokens, start, heads, headDim, type, layout, @base, threads) : null;

    /// <summary>float32 RMS norm of each head by <paramref name="weights"/>, then rotation, as one graph.</summary>
    public static Ggml? TryCreateNormalized(int tokens, int start, int heads, int headDim, RopeLayout layout, double @base, ReadOnlySpan<float> weights,
        float epsilon) =>
        LoadError is null ? new Ggml(tokens, start, heads, headDim, TypeF32, layout, @base, threads: 1, weights, epsilon) : null;

    /// <summary>Rotates the tensor in place once, at positions start..start+tokens-1.</summary>
    public void Rotate() => Compute(backend, graph);

    public void Dispose()
    {
        ggml_backend_free(backend);
        ggml_free(context);
    }

    private static void Compute(nint backend, nint graph)
    {
        int status = ggml_backend_graph_compute(backend, graph);
        if (status != 0)
        {
            throw new InvalidOperationException($"ggml_backend_graph_compute returned {status}.");
        }
    }

    /// <summary>Loads the variant built for this CPU; OpenMP threads must sleep, not spin, on a shared 2-core machine.</summary>
    private static string? Load()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            return "ggml is loaded from the linux-x64 or linux-arm64 native libraries only";
        }

        string variant = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? ""
            : Avx512BW.IsSupported && Avx512Vbmi.IsSupported ? "avx512"
            : Avx2.IsSupported ? "avx2"
            : Avx.IsSupported ? "avx" : "noavx";
        string directory = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", variant);
        if (!File.Exists(Path.Combine(directory, "libggml-cpu.so")))
        {
            return $"no ggml libraries in {directory}";
        }

        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        try
        {
            nint baseLibrary = NativeLibrary.Load(Path.Combine(directory, "libggml-base.so"));
            nint cpuLibrary = NativeLibrary.Load(Path.Combine(directory, "libggml-cpu.so"));
            // libllama needs libggml (the backend registry) beside the two above; loaded in order, each finds the last.
            nint llamaLibrary = NativeLibrary.TryLoad(Path.Combine(directory, "libggml.so"), out _)
                && NativeLibrary.TryLoad(Path.Combine(directory, "libllama.so"), out nint llama) ? llama : 0;
            NativeLibrary.SetDllImportResolver(typeof(Ggml).Assembly, (name, _, _) => name switch
            {
                Base => baseLibrary,
                Cpu => cpuLibrary,
                Llama => llamaLibrary,
                _ => 0,
            });
            return null;
        }
        catch (DllNotFoundException exception)
        {
            return exception.Message;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct InitParams
    {
        public nuint MemorySize;
        public nint MemoryBuffer;
        public byte NoAlloc;
    }

    [DllImport(Base)]
    private static extern nint ggml_init(InitParams parameters);

    [DllImport(Base)]
    private static extern void ggml_free(nint context);

    [DllImport(Base)]
    private static extern nint ggml_new_tensor_1d(nint context, int type, long ne0);

    [DllImport(Base)]
    private static extern nint ggml_new_tensor_3d(nint context, int type, long ne0, long ne1, long ne2);

    [DllImport(Base)]
    private static extern nint ggml_get_data(nint tensor);

    [DllImport(Base)]
    private static extern nint ggml_rope_ext_inplace(nint context, nint a, nint positions, nint frequencyFactors, int dimensions, int mode,
        int originalContext, float frequencyBase, float frequencyScale, float extensionFactor, float attentionFactor, float betaFast, float betaSlow);

    [DllImport(Base)]
    private static extern nint ggml_rope_ext(nint context, nint a, nint positions, nint frequencyFactors, int dimensions, int mode,
        int originalContext, float frequencyBase, float frequencyScale, float extensionFactor, float attentionFactor, float betaFast, float betaSlow);

    [DllImport(Base)]
    private static extern nint ggml_rms_norm(nint context, nint a, float epsilon);

    [DllImport(Base)]
    private static extern nint ggml_mul(nint context, nint a, nint b);

    [DllImport(Base)]
    private static extern nint ggml_new_graph(nint context);

    [DllImport(Base)]
    private static extern void ggml_build_forward_expand(nint graph, nint tensor);

    [DllImport(Base)]
    private static extern int ggml_backend_graph_compute(nint backend, nint graph);

    [DllImport(Base)]
    private static extern void ggml_backend_free(nint backend);

    [DllImport(Cpu)]
    private static extern nint ggml_backend_cpu_init();

    [DllImport(Cpu)]
    private static extern void ggml_backend_cpu_set_n_threads(nint backend, int threads);

    [DllImport("libc", CharSet = CharSet.Ansi)]
    private static extern int setenv(string name, string value, int overwrite);
}
