using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Rope.Simd.Models;
using Rope.Simd.Samples.LlamaDecoder.Model;

namespace Rope.Simd.Samples.LlamaDecoder.Decoding;

/// <summary>
/// Greedy decoding of one sequence with a KV cache of <typeparamref name="TCache"/> (<see cref="float"/> or
/// <see cref="Half"/>, llama.cpp's default): every rotary step is a Rope.Simd call, the rest is plain vectorized C#.
/// </summary>
/// <remarks>
/// Where llama.cpp rounds, this decoder rounds too, so that the two agree to float32 accumulation order: a product's
/// input is rounded to float16 when the weights are float16 (ggml converts the activations to the weights' type), and
/// with a float16 cache the queries and the softmax weights are rounded to float16 before they meet the cached keys and
/// values (ggml's KQ and KQV products on a float16 cache).
/// </remarks>
public sealed class Decoder<TCache>
    where TCache : unmanaged
{
    private readonly LlamaModel model;
    private readonly RopeTable table;
    private readonly RopeFrequencies shiftFrequencies;
    private readonly RopeLayout layout;
    private readonly RopeEngine engine = RopeEngine.Default;
    private readonly TCache[][] keys, values;
    private readonly int capacity, cacheRow;
    private readonly float attentionScale;
    private readonly Linear linear;
    private readonly ParallelOptions parallel;
    private readonly (float[] Keys, float[] Values, float[] Scores, float[] Query)[] attentionScratch;
    private float[] residual = [], normed = [], qkv = [], attention = [], product = [], gate = [], up = [];
    private long ropeTicks, totalTicks;

    /// <param name="model">The weights and hyperparameters.</param>
    /// <param name="capacity">Positions the cache holds (the context length).</param>
    /// <param name="threads">Threads for the matrix products and the attention.</param>
    public Decoder(LlamaModel model, int capacity, int threads = 1)
    {
        if (typeof(TCache) != typeof(float) && typeof(TCache) != typeof(Half))
        {
            throw new NotSupportedException("The cache holds float or Half elements.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threads);
        this.model = model;
        this.capacity = capacity;
        RopeModel rope = model.Rope;
        layout = model.Layout;
        // cos/sin rows of every position the cache can hold, from the GGUF file's frequencies (llama3 factors and YaRN included).
        table = RopeTable.Create(rope.Frequencies, firstPosition: 0, positionCount: capacity);
        // The context shift turns keys back by a pure rotation: the same frequencies without YaRN's attention factor,
        // which the cached keys already carry.
        shiftFrequencies = RopeFrequencies.FromInverseFrequencies(rope.Frequencies.InverseFrequencies);
        attentionScale = (float)(rope.SoftmaxScale / Math.Sqrt(model.HeadDim));
        cacheRow = model.KeyValueHeads * model.HeadDim;
        keys = new TCache[model.Layers.Count][];
        values = new TCache[model.Layers.Count][];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = new TCache[(long)capacity * cacheRow];
            values[i] = new TCache[(long)capacity * cacheRow];
            // Write the cache's pages now (as llama.cpp clears its cache buffer when it makes a context), so that the
            // appends of the first tokens do not pay the operating system's page faults.
            keys[i].AsSpan().Clear();
            values[i].AsSpan().Clear();
        }

        // Each KV head's keys and values widened to float32, and its scores: made once, used by one thread at a time.
        attentionScratch = new (float[], float[], float[], float[])[model.KeyValueHeads];
        for (int group = 0; group < attentionScratch.Length; group++)
        {
            attentionScratch[group] = (new float[capacity * model.HeadDim], new float[capacity * model.HeadDim], new float[capacity], new float[model.HeadDim]);
        }

        parallel = new ParallelOptions { MaxDegreeOfParallelism = threads };
        linear = new Linear(parallel);
    }

    /// <summary>Tokens in the cache: the next token's position.</summary>
    public int Position { get; private set; }

    /// <summary>Time spent in Rope.Simd calls since the decoder was made (or <see cref="ResetTimers"/>).</summary>
    public TimeSpan RopeTime => Stopwatch.GetElapsedTime(0, ropeTicks);

    /// <summary>Time spent in <see cref="Forward"/> and <see cref="ShiftContext"/>.</summary>
    public TimeSpan TotalTime => Stopwatch.GetElapsedTime(0, totalTicks);

    public void ResetTimers() => ropeTicks = totalTicks = 0;

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <see cref="Position"/>, ... through the model, appends their keys and
    /// values to the cache, and writes the logits of the last token (<paramref name="logits"/> of one vocabulary) or of
    /// every token (tokens × vocabulary).
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        long started = Stopwatch.GetTimestamp();
        int count = tokens.Length, embedding = model.EmbeddingLength, vocabulary = model.VocabularySize;
        if (count == 0 || Position + count > capacity)
        {
            throw new ArgumentException($"{count} tokens at position {Position} do not fit a cache of {capacity}.", nameof(tokens));
        }

        bool allLogits = logits.Length == (long)count * vocabulary;
        if (!allLogits && logits.Length != vocabulary)
        {
            throw new ArgumentException($"logits holds one vocabulary ({vocabulary}) or one per token ({count} × {vocabulary}).", nameof(logits));
        }

        var packing = new RopePackedQkv(count, model.QueryHeads, model.KeyValueHeads, model.HeadDim);
        int queryWidth = model.QueryHeads * model.HeadDim;
        Grow(ref residual, count * embedding);
        Grow(ref normed, count * Math.Max(embedding, queryWidth));
        Grow(ref qkv, packing.RequiredLength);
        Grow(ref attention, count * queryWidth);
        Grow(ref product, count * embedding);
        Grow(ref gate, count * model.FeedForwardLength);
        Grow(ref up, count * model.FeedForwardLength);

        Span<float> x = residual.AsSpan(0, count * embedding);
        for (int t = 0; t < count; t++)
        {
            int token = tokens[t];
            if ((uint)token >= (uint)vocabulary)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), $"Token {token} is outside the vocabulary of {vocabulary}.");
            }

            model.TokenEmbedding.AsSpan(token * embedding, embedding).CopyTo(x.Slice(t * embedding, embedding));
        }

        for (int l = 0; l < model.Layers.Count; l++)
        {
            LlamaLayer layer = model.Layers[l];
            Span<float> h = normed.AsSpan(0, count * embedding);
            RmsNorm(x, layer.AttentionNorm, h);
            Span<float> packed = qkv.AsSpan(0, packing.RequiredLength);
            linear.Multiply(WeightInput(h), layer.QueryKeyValue, packed, count);

            // Rope.Simd, once per layer: QK norm (Qwen3) and rotation of the queries in place, keys rotated and
            // values converted into the cache at positions Position.., all from the packed projection output.
            var cache = RopeKvCache<TCache>.PositionMajor(keys[l], values[l], batch: 1, capacity, model.KeyValueHeads, model.HeadDim);
            long ropeStarted = Stopwatch.GetTimestamp();
            engine.ApplyAndAppend(table, packed, packing, Norm(layer.QueryNorm), Norm(layer.KeyNorm), cache, positions: Position, layout);
            ropeTicks += Stopwatch.GetTimestamp() - ropeStarted;

            Span<float> heads = attention.AsSpan(0, count * queryWidth);
            Attend(l, packing.RowLength, count);
            Span<float> projected = product.AsSpan(0, count * embedding);
            linear.Multiply(WeightInput(heads), layer.AttentionOutput, projected, count);
            TensorPrimitives.Add(x, projected, x);

            RmsNorm(x, layer.FeedForwardNorm, h);
            Span<float> g = gate.AsSpan(0, count * model.FeedForwardLength), u = up.AsSpan(0, count * model.FeedForwardLength);
            ReadOnlySpan<float> input = WeightInput(h);
            linear.Multiply(input, layer.Gate, g, count);
            linear.Multiply(input, layer.Up, u, count);
            SwiGlu(g, u);
            linear.Multiply(WeightInput(g), layer.Down, projected, count);
            TensorPrimitives.Add(x, projected, x);
        }

        int first = allLogits ? 0 : count - 1, rows = count - first;
        Span<float> last = normed.AsSpan(0, rows * embedding);
        RmsNorm(x[(first * embedding)..], model.OutputNorm, last);
        linear.Multiply(WeightInput(last), model.Output, logits, rows);
        Position += count;
        totalTicks += Stopwatch.GetTimestamp() - started;
    }

    /// <summary>
    /// llama.cpp's context shift: keeps the first <paramref name="keep"/> tokens, drops the <paramref name="discard"/>
    /// after them, moves the rest down and turns their cached keys back by <paramref name="discard"/> positions (the
    /// inverse rotation), so decoding goes on at <see cref="Position"/> − discard as if those tokens had never been.
    /// </summary>
    /// <param name="keep">Tokens kept at the start (a system prompt, BOS).</param>
    /// <param name="discard">Tokens dropped after them.</param>
    /// <param name="asLlamaCpp">
    /// Reproduce llama.cpp's shift of a YaRN model bit for bit: its K-shift is a rope call with YaRN's attention factor
    /// m = 1 + 0.1·ln(factor), so every cached key, kept or moved, is multiplied by m once more at each shift (the
    /// forward pass already applied it). False (the default) turns keys back by a pure rotation, which leaves them as
    /// the forward pass would have written them at their new positions. Without YaRN the two are the same.
    /// </param>
    public void ShiftContext(int keep, int discard, bool asLlamaCpp = false)
    {
        long started = Stopwatch.GetTimestamp();
        if (keep < 0 || discard <= 0 || keep + discard > Position)
        {
            throw new ArgumentOutOfRangeException(nameof(discard), $"Keeping {keep} and dropping {discard} of {Position} cached tokens is not possible.");
        }

        int moved = Position - keep - discard;
        int[] shift = new int[moved];
        Array.Fill(shift, discard);
        var shape = new RopeShape(tokens: moved, heads: model.KeyValueHeads, headDim: model.HeadDim);
        var keptShape = new RopeShape(tokens: keep, heads: model.KeyValueHeads, headDim: model.HeadDim);
        RopeFrequencies frequencies = asLlamaCpp ? model.Rope.Frequencies : shiftFrequencies;
        bool rescaleKept = asLlamaCpp && frequencies.AttentionFactor != 1;
        int[] noShift = new int[rescaleKept ? keep : 0];
        for (int l = 0; l < keys.Length; l++)
        {
            keys[l].AsSpan((keep + discard) * cacheRow, moved * cacheRow).CopyTo(keys[l].AsSpan(keep * cacheRow));
            values[l].AsSpan((keep + discard) * cacheRow, moved * cacheRow).CopyTo(values[l].AsSpan(keep * cacheRow));

            // Rope.Simd: position p's keys become position p − discard's (rotation by −discard·ω), in the cache's type.
            long ropeStarted = Stopwatch.GetTimestamp();
            engine.Apply(frequencies, keys[l].AsSpan(keep * cacheRow, moved * cacheRow), shape, positions: shift, layout, inverse: true);
            if (rescaleKept)
            {
                // llama.cpp rotates the kept keys too, by zero positions: only the attention factor changes them.
                engine.Apply(frequencies, keys[l].AsSpan(0, keep * cacheRow), keptShape, positions: noShift, layout);
            }

            ropeTicks += Stopwatch.GetTimestamp() - ropeStarted;
        }

        Position -= discard;
        totalTicks += Stopwatch.GetTimestamp() - started;
    }

    /// <summary>Greedy decoding: <paramref name="steps"/> tokens after <paramref name="prompt"/>, each the argmax of the previous logits.</summary>
    public int[] Generate(ReadOnlySpan<int> prompt, int steps)
    {
        var logits = new float[model.VocabularySize];
        var generated = new int[steps];
        Forward(prompt, logits);
        for (int i = 0; i < steps; i++)
        {
            generated[i] = ArgMax(logits);
            if (i + 1 < steps)
            {
                Forward([generated[i]], logits);
            }
        }

        return generated;
    }

    /// <summary>The first index of the largest logit.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);

    private RopeHeadNorm Norm(float[]? weight) => weight is null ? RopeHeadNorm.None : RopeHeadNorm.Rms(weight, model.NormEpsilon);

    // Causal attention of each query token (rotated queries in qkv) over the cache, positions 0 .. its own, into
    // attention; query heads share their group's KV head.
    private void Attend(int layer, int rowLength, int count)
    {
        int headDim = model.HeadDim, groups = model.KeyValueHeads, headsPerGroup = model.QueryHeads / groups, span = Position + count;
        float[] packedArray = qkv, outputArray = attention;
        TCache[] keyCache = keys[layer], valueCache = values[layer];
        bool halfCache = typeof(TCache) == typeof(Half);
        Parallel.For(0, groups, parallel, group =>
        {
            // The group's keys and values for every cached position, as float32.
            (float[] groupKeys, float[] groupValues, float[] scores, float[] query) = attentionScratch[group];
            for (int p = 0; p < span; p++)
            {
                Widen(keyCache.AsSpan(p * cacheRow + group * headDim, headDim), groupKeys.AsSpan(p * headDim, headDim));
                Widen(valueCache.AsSpan(p * cacheRow + group * headDim, headDim), groupValues.AsSpan(p * headDim, headDim));
            }

            for (int t = 0; t < count; t++)
            {
                int visible = Position + t + 1;
                for (int head = group * headsPerGroup; head < (group + 1) * headsPerGroup; head++)
                {
                    packedArray.AsSpan(t * rowLength + head * headDim, headDim).CopyTo(query);
                    if (halfCache)
                    {
                        RoundToHalf(query);
                    }

                    for (int p = 0; p < visible; p++)
                    {
                        scores[p] = TensorPrimitives.Dot(query, groupKeys.AsSpan(p * headDim, headDim)) * attentionScale;
                    }

                    Softmax(scores.AsSpan(0, visible));
                    if (halfCache)
                    {
                        RoundToHalf(scores.AsSpan(0, visible));
                    }

                    Span<float> result = outputArray.AsSpan((t * model.QueryHeads + head) * headDim, headDim);
                    result.Clear();
                    for (int p = 0; p < visible; p++)
                    {
                        TensorPrimitives.MultiplyAdd(groupValues.AsSpan(p * headDim, headDim), scores[p], result, result);
                    }
                }
            }
        });
    }

    private static void Widen(ReadOnlySpan<TCache> source, Span<float> destination)
    {
        if (typeof(TCache) == typeof(Half))
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<TCache, Half>(source), destination);
        }
        else
        {
            MemoryMarshal.Cast<TCache, float>(source).CopyTo(destination);
        }
    }

    // ggml's soft_max: exponentials in float32, their sum in double, one multiply by its inverse.
    private static void Softmax(Span<float> scores)
    {
        float max = TensorPrimitives.Max(scores);
        double sum = 0;
        foreach (ref float score in scores)
        {
            score = MathF.Exp(score - max);
            sum += score;
        }

        TensorPrimitives.Multiply(scores, (float)(1 / sum), scores);
    }

    // RMS norm of each row, as ggml's rms_norm then mul: (x · 1/sqrt(mean(x²) + ε)) · w, the sum of squares in double.
    private void RmsNorm(ReadOnlySpan<float> input, ReadOnlySpan<float> weight, Span<float> output)
    {
        int width = weight.Length;
        for (int row = 0; row < output.Length / width; row++)
        {
            ReadOnlySpan<float> x = input.Slice(row * width, width);
            Span<float> y = output.Slice(row * width, width);
            double sum = 0;
            foreach (float value in x)
            {
                sum += value * value;
            }

            float scale = 1f / MathF.Sqrt((float)(sum / width) + model.NormEpsilon);
            TensorPrimitives.Multiply(x, scale, y);
            TensorPrimitives.Multiply(y, weight, y);
        }
    }

    private static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    // A product's input: rounded to float16 in place when the weights are float16, as ggml converts it.
    private Span<float> WeightInput(Span<float> input)
    {
        if (model.HalfWeights)
        {
            RoundToHalf(input);
        }

        return input;
    }

    private static void RoundToHalf(Span<float> values)
    {
        foreach (ref float value in values)
        {
            value = (float)(Half)value;
        }
    }

    private static void Grow(ref float[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new float[length];
        }
    }
}
