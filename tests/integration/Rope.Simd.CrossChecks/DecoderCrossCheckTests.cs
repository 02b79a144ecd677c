using System.Numerics.Tensors;
using Rope.Simd.Bench.Peers;
using Rope.Simd.Samples.LlamaDecoder.Decoding;
using Rope.Simd.Samples.LlamaDecoder.Model;

namespace Rope.Simd.CrossChecks;

/// <summary>
/// The decoder sample (samples/LlamaDecoder, every rotary step a Rope.Simd call) against llama.cpp on the same
/// random-weight GGUF files and the same token ids, with llama.cpp's attention as separate products and as its flash
/// kernel: the logits of every prompt position, 64 greedy steps, then twice llama.cpp's context shift (drop 32 positions
/// after the first 4, keys turned back) followed by 32 more greedy steps.
/// </summary>
/// <remarks>
/// <para>Tolerance. Both sides compute the same float32 operations with the same roundings to float16 (see
/// <see cref="Decoder{TCache}"/>) and differ only in summation order and in their exp/sqrt, each a few float32 ulps
/// (2^-24 relative) of an intermediate; summed over a dot product of n terms that is about √n·2^-24 of the terms' size,
/// amplified by the layers (each norm and softmax keeps the relative size) to a logit difference near 1e-6 of the
/// logits' size for float32 weights and cache. Where a value lands within that difference of a float16 rounding
/// boundary the two sides round it to neighbouring float16 values, a relative change of 2^-11 in one element; a few
/// such flips per token move a logit by a small multiple of 2^-11·|w|·|x| ≈ 2^-11 of the logits' scale. The test
/// allows 2^-8 of the largest logit magnitude of each row for files with any float16 step (eight times that estimate)
/// and 2^-14 for the all-float32 file (far above its estimate, far below any float16 effect). llama.cpp's
/// flash-attention kernel (what its default picks on the CPU) rounds differently from the separate products the sample
/// mirrors (the all-float32 file then agrees to about 2e-3 of the logits' scale, not 5e-7); with it every file is
/// held to 2^-8.</para>
/// <para>State. Both sides decode their own greedy tokens (never the other's), so a disagreement would carry on into
/// every later step: identical sequences are the check that the caches and the positions agree. One exception: where
/// the two sides choose different tokens whose logits lie within the tolerance of each other on both sides, the choice
/// is a tie decided by summation order (random weights make the best two logits as close as 1.5e-3 in these runs); it
/// is counted, at most two are allowed, and both sides go on with llama.cpp's token.</para>
/// </remarks>
public sealed class DecoderCrossCheckTests(ITestOutputHelper output)
{
    private const int Context = 128, PromptLength = 32, GreedySteps = 64, Keep = 4, Discard = 32, Shifts = 2, StepsAfterShift = 32, Threads = 2;
    private const int TotalSteps = GreedySteps + Shifts * StepsAfterShift;

    public static TheoryData<string, bool> Models =>
        new() { { "llama-f32", false }, { "llama-f16", false }, { "qwen3-f16", false }, { "llama3-freqs", false }, { "yarn", false },
            { "llama-f32", true }, { "llama-f16", true }, { "qwen3-f16", true }, { "llama3-freqs", true }, { "yarn", true } };

    [Theory]
    [MemberData(nameof(Models))]
    public void DecoderMatchesLlamaCpp(string name, bool flashAttention)
    {
        // llama.cpp's K-shift multiplies the cached keys of a YaRN model by its attention factor once more; the
        // decoder reproduces that on request (see YarnShiftOfLlamaCppRescalesKeys).
        Comparison result = Run(name, shiftAsLlamaCpp: true, flashAttention);
        double tolerance = Tolerance(name, flashAttention);
        Assert.True(result.FirstMismatch is null, $"{name}: greedy tokens differ at step {result.FirstMismatch} by more than a tie.");
        Assert.True(result.LargestRelative <= tolerance, $"{name}: logits differ by {result.LargestRelative:E2} of their scale (allowed {tolerance:E2}).");
        Assert.True(result.Ties <= 2, $"{name}: {result.Ties} greedy choices were ties within the tolerance.");
        Assert.True(result.SameTokens >= GreedySteps, $"{name}: {result.SameTokens} identical greedy tokens.");
    }

    private static double Tolerance(string name, bool flashAttention) => name == "llama-f32" && !flashAttention ? 1.0 / 16384 : 1.0 / 256;

    /// <summary>
    /// With a pure rotation (the decoder's default shift) a YaRN model agrees with llama.cpp up to the shift and not
    /// after it: llama.cpp's shifted cache holds keys m = 1 + 0.1·ln 4 times larger. If this fails, llama.cpp has changed
    /// its K-shift and the sample's README and <c>ShiftContext</c> should say so.
    /// </summary>
    [Fact]
    public void YarnShiftOfLlamaCppRescalesKeys()
    {
        Comparison result = Run("yarn", shiftAsLlamaCpp: false, flashAttention: false);
        Assert.True(result.LargestRelativeBeforeShift <= 1.0 / 256, $"before the shift the logits differ by {result.LargestRelativeBeforeShift:E2} of their scale.");
        Assert.True(result.FirstMismatch is null or >= GreedySteps, $"greedy tokens differ at step {result.FirstMismatch}, before the shift.");
        Assert.True(result.FirstAfterShift > 1.0 / 64, $"after the shift the logits differ by only {result.FirstAfterShift:E2} of their scale.");
    }

    private Comparison Run(string name, bool shiftAsLlamaCpp, bool flashAttention)
    {
        Assert.SkipWhen(LlamaCpp.LoadError is not null, $"llama.cpp cannot load on this machine: {LlamaCpp.LoadError}");
        (RandomModelOptions options, bool halfCache) = name switch
        {
            "llama-f32" => (new RandomModelOptions(), false),
            "llama-f16" => (new RandomModelOptions { HalfWeights = true }, true),
            "qwen3-f16" => (new RandomModelOptions { Architecture = "qwen3", HalfWeights = true, Seed = 2 }, true),
            "llama3-freqs" => (new RandomModelOptions { Scaling = RandomModelScaling.Llama3, FreqBase = 500000, Seed = 3 }, true),
            _ => (new RandomModelOptions { Scaling = RandomModelScaling.Yarn, Layers = 3, Seed = 4 }, true),
        };
        string path = Path.Combine(Path.GetTempPath(), $"rope-simd-decoder-{name}-{flashAttention}-{Environment.ProcessId}.gguf");
        RandomModel.Write(path, options);
        try
        {
            LlamaModel model = LlamaModel.Load(path);
            double tolerance = Tolerance(name, flashAttention);
            Comparison result = halfCache
                ? Compare(new Decoder<Half>(model, Context, Threads), model, path, true, shiftAsLlamaCpp, flashAttention, tolerance)
                : Compare(new Decoder<float>(model, Context, Threads), model, path, false, shiftAsLlamaCpp, flashAttention, tolerance);
            output.WriteLine($"{name}, flash attention {(flashAttention ? "on" : "off")}, shift {(shiftAsLlamaCpp ? "as llama.cpp" : "a pure rotation")}: "
                + "largest logit difference "
                + $"{result.LargestDifference:E2} ({result.LargestRelative:E2} of the row's largest logit) while the tokens agree; "
                + $"{result.SameTokens} of {TotalSteps} greedy tokens identical ({result.SameAfterShift} of {Shifts * StepsAfterShift} after the shifts, "
                + $"{result.Ties} ties within the tolerance); "
                + $"first step after the shift {result.FirstAfterShift:E2}; smallest margin of a greedy choice {result.SmallestGap:E2}");
            return result;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static Comparison Compare<TCache>(Decoder<TCache> decoder, LlamaModel model, string path, bool halfCache, bool shiftAsLlamaCpp,
        bool flashAttention, double tolerance)
        where TCache : unmanaged
    {
        int vocabulary = model.VocabularySize;
        using var llama = new LlamaCpp(path, Context, Threads, halfCache, vocabulary, flashAttention);
        var random = new Random(7);
        int[] prompt = [.. Enumerable.Range(0, PromptLength).Select(_ => random.Next(vocabulary))];
        var comparison = new Comparison();

        // Prefill: the logits of every prompt position.
        var logits = new float[PromptLength * vocabulary];
        decoder.Forward(prompt, logits);
        llama.Decode(prompt, 0, allLogits: true);
        for (int t = 0; t < PromptLength; t++)
        {
            comparison.Add(logits.AsSpan(t * vocabulary, vocabulary), llama.Logits(t));
        }

        // Greedy steps on each side from its own logits, a context shift, and more steps.
        float[] ours = logits[^vocabulary..];
        float[] theirs = llama.Logits(PromptLength - 1).ToArray();
        int position = PromptLength;
        for (int step = 0; step < TotalSteps; step++)
        {
            if (step >= GreedySteps && (step - GreedySteps) % StepsAfterShift == 0)
            {
                decoder.ShiftContext(Keep, Discard, shiftAsLlamaCpp);
                llama.ShiftContext(Keep, Discard, position);
                position -= Discard;
                Assert.Equal(position, decoder.Position);
            }

            int ourToken = Decoder<TCache>.ArgMax(ours), theirToken = Decoder<TCache>.ArgMax(theirs);
            comparison.AddGap(ours, ourToken);
            if (ourToken == theirToken)
            {
                comparison.SameTokens++;
                comparison.SameAfterShift += step >= GreedySteps ? 1 : 0;
            }
            else if (NearTie(ours, ourToken, theirToken, tolerance) && NearTie(theirs, theirToken, ourToken, tolerance))
            {
                // Within the logits' tolerance on both sides the two best are a tie, decided by summation order, not by
                // correctness: both go on with llama.cpp's choice so that the comparison goes on.
                comparison.Ties++;
                ourToken = theirToken;
            }
            else
            {
                // The sequences part here: nothing after this step compares.
                comparison.FirstMismatch = step;
                break;
            }

            decoder.Forward([ourToken], ours);
            llama.Decode([theirToken], position, allLogits: false);
            theirs = llama.Logits(-1).ToArray();
            position++;
            comparison.Add(ours, theirs, afterShift: step >= GreedySteps);
        }

        return comparison;
    }

    // Whether the logits of two tokens lie within the comparison's tolerance of each other.
    private static bool NearTie(ReadOnlySpan<float> logits, int first, int second, double tolerance) =>
        Math.Abs(logits[first] - logits[second]) <= tolerance * TensorPrimitives.MaxMagnitude(logits);

    private sealed class Comparison
    {
        public double LargestDifference { get; private set; }

        public double LargestRelative { get; private set; }

        public double LargestRelativeBeforeShift { get; private set; }

        public int SameTokens { get; set; }

        public int SameAfterShift { get; set; }

        /// <summary>Steps where the two sides chose different tokens whose logits tie within the tolerance.</summary>
        public int Ties { get; set; }

        /// <summary>The smallest margin of a greedy choice: the best logit less the second best.</summary>
        public double SmallestGap { get; private set; } = double.MaxValue;

        /// <summary>The first greedy step whose tokens differ, if any.</summary>
        public int? FirstMismatch { get; set; }

        /// <summary>The relative logit difference of the first step after the first shift.</summary>
        public double FirstAfterShift { get; private set; } = double.NaN;

        public void AddGap(ReadOnlySpan<float> logits, int best)
        {
            float second = float.NegativeInfinity;
            for (int i = 0; i < logits.Length; i++)
            {
                second = i == best ? second : Math.Max(second, logits[i]);
            }

            SmallestGap = Math.Min(SmallestGap, logits[best] - second);
        }

        public void Add(ReadOnlySpan<float> ours, ReadOnlySpan<float> theirs, bool afterShift = false)
        {
            double scale = 0, difference = 0;
            for (int i = 0; i < ours.Length; i++)
            {
                scale = Math.Max(scale, Math.Abs(theirs[i]));
                difference = Math.Max(difference, Math.Abs(ours[i] - theirs[i]));
            }

            if (afterShift && double.IsNaN(FirstAfterShift))
            {
                FirstAfterShift = difference / scale;
            }

            if (!afterShift)
            {
                LargestRelativeBeforeShift = Math.Max(LargestRelativeBeforeShift, difference / scale);
            }

            LargestDifference = Math.Max(LargestDifference, difference);
            LargestRelative = Math.Max(LargestRelative, difference / scale);
        }
    }
}
