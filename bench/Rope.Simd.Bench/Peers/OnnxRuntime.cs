using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Rope.Simd.Bench.Peers;

/// <summary>
/// ONNX Runtime's CPU RotaryEmbedding: the standard op (opset 23, inputs X, cos_cache, sin_cache, position_ids) or the
/// com.microsoft contrib op (input, position_ids, cos_cache, sin_cache), on a [1, tokens, heads·headDim] tensor, out of
/// place, float32 or float16. Inputs and output are bound to caller memory once, so a run allocates nothing.
/// </summary>
internal sealed unsafe class OnnxRuntime : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string[] inputNames, outputNames = ["Y"];
    private readonly OrtValue[] inputValues, outputValues;
    private readonly List<IDisposable> owned = [];

    private OnnxRuntime(bool contrib, bool float16, RopeTable table, int tokens, int start, int heads, int headDim, RopeLayout layout,
        nint input, nint output, int threads)
    {
        int type = float16 ? OnnxModel.Float16 : OnnxModel.Float;
        int half = table.RotaryDim / 2, positions = start + tokens;
        var x = new OnnxModel.Tensor("X", type, [1, tokens, heads * headDim]);
        var cos = new OnnxModel.Tensor("cos_cache", type, [positions, half]);
        var sin = new OnnxModel.Tensor("sin_cache", type, [positions, half]);
        var ids = new OnnxModel.Tensor("position_ids", OnnxModel.Int64, [1, tokens]);
        OnnxModel.Tensor[] inputs = contrib ? [x, ids, cos, sin] : [x, cos, sin, ids];
        (string, long)[] attributes = [("interleaved", layout == RopeLayout.Interleaved ? 1 : 0), ("num_heads", heads), ("rotary_embedding_dim", table.RotaryDim)];
        byte[] model = contrib
            ? OnnxModel.Single(10, [("", 21), ("com.microsoft", 1)], "RotaryEmbedding", "com.microsoft", attributes, inputs, [x with { Name = "Y" }])
            : OnnxModel.Single(11, [("", 23)], "RotaryEmbedding", "", attributes, inputs, [x with { Name = "Y" }]);

        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        // ORT's pool threads spin after each Run by default; on a 2-core machine that starves every case measured after it.
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        session = new InferenceSession(model, options);

        // Split caches [position][rotaryDim/2] from the same float32 table rows Rope.Simd uses.
        var cosCache = new float[positions * half];
        var sinCache = new float[positions * half];
        for (int p = 0; p < positions; p++)
        {
            ReadOnlySpan<float> row = table.GetRow(p);
            for (int i = 0; i < half; i++)
            {
                cosCache[p * half + i] = row[2 * i];
                sinCache[p * half + i] = row[2 * i + 1];
            }
        }

        long[] positionIds = [.. Enumerable.Range(start, tokens).Select(p => (long)p)];
        OrtValue xValue = Bind(type, x.Shape, input), yValue = Bind(type, x.Shape, output);
        OrtValue cosValue = float16 ? Own(OrtValue.CreateTensorValueFromMemory([.. cosCache.Select(v => new Float16(BitConverter.HalfToUInt16Bits((Half)v)))], cos.Shape))
            : Own(OrtValue.CreateTensorValueFromMemory(cosCache, cos.Shape));
        OrtValue sinValue = float16 ? Own(OrtValue.CreateTensorValueFromMemory([.. sinCache.Select(v => new Float16(BitConverter.HalfToUInt16Bits((Half)v)))], sin.Shape))
            : Own(OrtValue.CreateTensorValueFromMemory(sinCache, sin.Shape));
        OrtValue idsValue = Own(OrtValue.CreateTensorValueFromMemory(positionIds, ids.Shape));
        inputNames = [.. inputs.Select(t => t.Name)];
        inputValues = contrib ? [xValue, idsValue, cosValue, sinValue] : [xValue, cosValue, sinValue, idsValue];
        outputValues = [yValue];
    }

    /// <summary>Why ONNX Runtime could not run RotaryEmbedding here, or null.</summary>
    public static string? LoadError { get; } = Probe();

    /// <summary>A session reading <paramref name="input"/> and writing <paramref name="output"/> (float or Half elements, [tokens][heads][headDim]).</summary>
    /// <remarks>Null when ONNX Runtime did not load or rejects the model (an older version without the op, say); the reason is written to the console.</remarks>
    public static OnnxRuntime? TryCreate(bool contrib, bool float16, RopeTable table, int tokens, int start, int heads, int headDim,
        RopeLayout layout, nint input, nint output, int threads = 1)
    {
        if (LoadError is not null)
        {
            return null;
        }

        try
        {
            return new OnnxRuntime(contrib, float16, table, tokens, start, heads, headDim, layout, input, output, threads);
        }
        catch (OnnxRuntimeException exception)
        {
            Console.WriteLine($"ONNX Runtime skipped ({(contrib ? "com.microsoft" : "opset 23")}, {(float16 ? "float16" : "float32")}): {exception.Message}");
            return null;
        }
    }

    public void Rotate() => session.Run(runOptions, inputNames, inputValues, outputNames, outputValues);

    public void Dispose()
    {
        foreach (IDisposable disposable in owned)
        {
            disposable.Dispose();
        }

        runOptions.Dispose();
        session.Dispose();
    }

    private static string? Probe()
    {
        try
        {
            using var options = new SessionOptions();
            return OrtEnv.Instance().GetVersionString() is { Length: > 0 } ? null : "no version";
        }
        catch (Exception exception) when (exception is DllNotFoundException or TypeInitializationException or OnnxRuntimeException)
        {
            return exception.Message;
        }
    }

    private OrtValue Bind(int type, long[] shape, nint memory) => Own(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance,
        type == OnnxModel.Float16 ? TensorElementType.Float16 : TensorElementType.Float, shape, memory,
        shape.Aggregate(1L, (a, b) => a * b) * (type == OnnxModel.Float16 ? 2 : 4)));

    private OrtValue Own(OrtValue value)
    {
        owned.Add(value);
        return value;
    }
}
