using System.Runtime.InteropServices;

namespace Rope.Simd.Bench.Peers;

/// <summary>
/// llama.cpp itself (libllama from NuGet <c>LLamaSharp.Backend.Cpu</c> 0.30.0): one model, one context of one sequence,
/// batches of token ids with their positions, the logits of every token, and the KV cache's context shift
/// (<c>llama_memory_seq_rm</c> then <c>llama_memory_seq_add</c>, which rotates the cached keys on the next decode).
/// Flash attention is on (as llama.cpp's default, auto, picks on the CPU) or off: then attention runs as ggml's KQ,
/// soft_max and KQV products.
/// </summary>
internal sealed unsafe class LlamaCpp : IDisposable
{
    private const int TypeF32 = 0, TypeF16 = 1, FlashAttentionDisabled = 0, FlashAttentionEnabled = 1;

    private readonly nint model, context;
    private readonly int vocabulary;

    /// <param name="path">A GGUF file.</param>
    /// <param name="contextLength">Positions the cache holds; also the largest batch.</param>
    /// <param name="threads">Threads for single tokens and for batches.</param>
    /// <param name="halfCache">A float16 KV cache (llama.cpp's default) rather than float32.</param>
    /// <param name="vocabulary">Logits per token (a model without a tokenizer does not report it).</param>
    /// <param name="flashAttention">ggml's fused flash-attention kernel rather than separate products (its roundings differ: on
    /// float32 files the logits then agree with a float32 reference to about 2e-3 of their scale rather than 5e-7).</param>
    public LlamaCpp(string path, int contextLength, int threads, bool halfCache, int vocabulary, bool flashAttention)
    {
        model = llama_model_load_from_file(path, llama_model_default_params());
        if (model == 0)
        {
            throw new InvalidOperationException($"llama.cpp could not load {path}.");
        }

        ContextParams parameters = llama_context_default_params();
        parameters.ContextLength = parameters.BatchSize = parameters.MicroBatchSize = (uint)contextLength;
        parameters.Threads = parameters.BatchThreads = threads;
        parameters.FlashAttention = flashAttention ? FlashAttentionEnabled : FlashAttentionDisabled;
        parameters.KeyType = parameters.ValueType = halfCache ? TypeF16 : TypeF32;
        context = llama_init_from_model(model, parameters);
        if (context == 0)
        {
            llama_model_free(model);
            throw new InvalidOperationException("llama.cpp could not make a context.");
        }

        this.vocabulary = vocabulary;
    }

    /// <summary>Why llama.cpp could not load, or null once it has.</summary>
    public static string? LoadError { get; } = Initialize();

    /// <summary>Decodes <paramref name="tokens"/> at positions start, start + 1, ..., asking for the logits of every token or of the last.</summary>
    public void Decode(ReadOnlySpan<int> tokens, int start, bool allLogits)
    {
        Batch batch = llama_batch_init(tokens.Length, 0, 1);
        try
        {
            batch.Count = tokens.Length;
            for (int i = 0; i < tokens.Length; i++)
            {
                batch.Tokens[i] = tokens[i];
                batch.Positions[i] = start + i;
                batch.SequenceIdCounts[i] = 1;
                batch.SequenceIds[i][0] = 0;
                batch.Logits[i] = (byte)(allLogits || i == tokens.Length - 1 ? 1 : 0);
            }

            int status = llama_decode(context, batch);
            if (status != 0)
            {
                throw new InvalidOperationException($"llama_decode returned {status}.");
            }
        }
        finally
        {
            llama_batch_free(batch);
        }
    }

    /// <summary>The logits of the batch's token <paramref name="index"/> (−1: the last).</summary>
    public ReadOnlySpan<float> Logits(int index) => new(llama_get_logits_ith(context, index), vocabulary);

    /// <summary>Drops positions [keep, keep + discard) and moves [keep + discard, end) down by discard.</summary>
    public void ShiftContext(int keep, int discard, int end)
    {
        nint memory = llama_get_memory(context);
        if (llama_memory_seq_rm(memory, 0, keep, keep + discard) == 0)
        {
            throw new InvalidOperationException("llama_memory_seq_rm failed.");
        }

        llama_memory_seq_add(memory, 0, keep + discard, end, -discard);
    }

    /// <summary>Empties the KV cache (the next decode starts a sequence again).</summary>
    public void Clear() => llama_memory_clear(llama_get_memory(context), 1);

    public void Dispose()
    {
        llama_free(context);
        llama_model_free(model);
    }

    private static string? Initialize()
    {
        if (Ggml.LoadError is { } error)
        {
            return error;
        }

        try
        {
            // llama.cpp logs to stderr only when asked (ROPE_SIMD_LLAMA_LOG=1).
            if (Environment.GetEnvironmentVariable("ROPE_SIMD_LLAMA_LOG") != "1")
            {
                llama_log_set(&Quiet, 0);
            }

            llama_backend_init();
            return null;
        }
        catch (Exception exception) when (exception is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"libllama: {exception.Message}";
        }
    }

    [UnmanagedCallersOnly]
    private static void Quiet(int level, byte* text, void* user)
    {
    }

    // llama.h's llama_model_params (72 bytes); only the defaults are used.
    [StructLayout(LayoutKind.Sequential, Size = 72)]
    private struct ModelParams
    {
        public nint Devices;
    }

    // llama.h's llama_context_params (160 bytes), the fields this class sets at their offsets.
    [StructLayout(LayoutKind.Explicit, Size = 160)]
    private struct ContextParams
    {
        [FieldOffset(0)] public uint ContextLength;
        [FieldOffset(4)] public uint BatchSize;
        [FieldOffset(8)] public uint MicroBatchSize;
        [FieldOffset(24)] public int Threads;
        [FieldOffset(28)] public int BatchThreads;
        [FieldOffset(48)] public int FlashAttention;
        [FieldOffset(104)] public int KeyType;
        [FieldOffset(108)] public int ValueType;
    }

    // llama.h's llama_batch.
    [StructLayout(LayoutKind.Sequential)]
    private struct Batch
    {
        public int Count;
        public int* Tokens;
        public float* Embeddings;
        public int* Positions;
        public int* SequenceIdCounts;
        public int** SequenceIds;
        public byte* Logits;
    }

    [DllImport(Ggml.Llama)]
    private static extern void llama_backend_init();

    [DllImport(Ggml.Llama)]
    private static extern void llama_log_set(delegate* unmanaged<int, byte*, void*, void> callback, nint user);

    [DllImport(Ggml.Llama)]
    private static extern ModelParams llama_model_default_params();

    [DllImport(Ggml.Llama)]
    private static extern ContextParams llama_context_default_params();

    [DllImport(Ggml.Llama, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern nint llama_model_load_from_file([MarshalAs(UnmanagedType.LPUTF8Str)] string path, ModelParams parameters);

    [DllImport(Ggml.Llama)]
    private static extern nint llama_init_from_model(nint model, ContextParams parameters);

    [DllImport(Ggml.Llama)]
    private static extern void llama_free(nint context);

    [DllImport(Ggml.Llama)]
    private static extern void llama_model_free(nint model);

    [DllImport(Ggml.Llama)]
    private static extern Batch llama_batch_init(int tokens, int embeddings, int sequences);

    [DllImport(Ggml.Llama)]
    private static extern void llama_batch_free(Batch batch);

    [DllImport(Ggml.Llama)]
    private static extern int llama_decode(nint context, Batch batch);

    [DllImport(Ggml.Llama)]
    private static extern float* llama_get_logits_ith(nint context, int index);

    [DllImport(Ggml.Llama)]
    private static extern nint llama_get_memory(nint context);

    [DllImport(Ggml.Llama)]
    private static extern void llama_memory_clear(nint memory, byte data);

    [DllImport(Ggml.Llama)]
    private static extern byte llama_memory_seq_rm(nint memory, int sequence, int start, int end);

    [DllImport(Ggml.Llama)]
    private static extern void llama_memory_seq_add(nint memory, int sequence, int start, int end, int delta);
}
