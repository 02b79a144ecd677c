using System.Diagnostics;
using Rope.Simd.Bench.Peers;
using Rope.Simd.Samples.LlamaDecoder.Decoding;
using Rope.Simd.Samples.LlamaDecoder.Model;

namespace Rope.Simd.Bench;

/// <summary>
/// The decoder sample (samples/LlamaDecoder) against llama.cpp on the same random-weight GGUF file and the same thread
/// count: prefill and decode tokens/s, and the share of the sample's time spent in Rope.Simd calls. llama.cpp runs as
/// its defaults have it on the CPU (flash attention on). Saved to artifacts/decoder.
/// </summary>
internal static class DecoderRun
{
    private const int Context = 512, Prompt = 128, Steps = 64, Rounds = 3;

    // A LLaMA-3-like block at a size that runs in seconds: heads of 128, four query heads per KV head.
    private static readonly RandomModelOptions Shape = new()
    {
        Layers = 8, QueryHeads = 8, KeyValueHeads = 2, HeadDim = 128, FeedForward = 2816, Vocabulary = 8192, ContextLength = Context,
        FreqBase = 500000,
    };

    public static void Run(TextWriter output)
    {
        if (LlamaCpp.LoadError is { } error)
        {
            output.WriteLine($"llama.cpp cannot load: {error}");
            return;
        }

        int threads = Environment.ProcessorCount;
        output.WriteLine($"Decoder sample vs llama.cpp: {Shape.Layers} layers, {Shape.QueryHeads} query / {Shape.KeyValueHeads} KV heads of {Shape.HeadDim}, "
            + $"feed-forward {Shape.FeedForward}, vocabulary {Shape.Vocabulary}; prompt {Prompt} tokens, then {Steps} greedy steps; {threads} threads; "
            + $"llama.cpp with flash attention (its default on the CPU); best of {Rounds} rounds after one warm-up round.");
        output.WriteLine();
        output.WriteLine("| weights, cache | prefill tokens/s: sample | llama.cpp | decode tokens/s: sample | llama.cpp | Rope.Simd share: prefill | decode | Rope.Simd µs per decoded token |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (bool half in new[] { true, false })
        {
            string path = Path.Combine(Path.GetTempPath(), $"rope-simd-decoder-bench-{(half ? "f16" : "f32")}-{Environment.ProcessId}.gguf");
            RandomModel.Write(path, Shape with { HalfWeights = half });
            try
            {
                LlamaModel model = LlamaModel.Load(path);
                using var llama = new LlamaCpp(path, Context, threads, halfCache: half, model.VocabularySize, flashAttention: true);
                Timing ours = half ? Measure(() => new Decoder<Half>(model, Context, threads)) : Measure(() => new Decoder<float>(model, Context, threads));
                Timing theirs = Measure(llama);
                output.WriteLine($"| {(half ? "float16, float16" : "float32, float32")} | {Prompt / ours.Prefill:F0} | {Prompt / theirs.Prefill:F0} | "
                    + $"{Steps / ours.Decode:F1} | {Steps / theirs.Decode:F1} | {100 * ours.PrefillRopeShare:F2}% | {100 * ours.DecodeRopeShare:F2}% | "
                    + $"{1e6 * ours.DecodeRope / Steps:F1} |");
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    private static Timing Measure<TCache>(Func<Decoder<TCache>> create)
        where TCache : unmanaged
    {
        int[] prompt = Tokens();
        var best = new Timing(double.MaxValue, double.MaxValue, 0, 0, 0);
        for (int round = 0; round <= Rounds; round++)
        {
            Decoder<TCache> decoder = create();
            var logits = new float[Shape.Vocabulary];
            long started = Stopwatch.GetTimestamp();
            decoder.Forward(prompt, logits);
            double prefill = Stopwatch.GetElapsedTime(started).TotalSeconds;
            double prefillShare = decoder.RopeTime / decoder.TotalTime;
            decoder.ResetTimers();
            started = Stopwatch.GetTimestamp();
            for (int step = 0; step < Steps; step++)
            {
                decoder.Forward([Decoder<TCache>.ArgMax(logits)], logits);
            }

            double decode = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (round > 0)
            {
                best = new Timing(Math.Min(best.Prefill, prefill), Math.Min(best.Decode, decode),
                    prefill < best.Prefill ? prefillShare : best.PrefillRopeShare,
                    decode < best.Decode ? decoder.RopeTime / decoder.TotalTime : best.DecodeRopeShare,
                    decode < best.Decode ? decoder.RopeTime.TotalSeconds : best.DecodeRope);
            }
        }

        return best;
    }

    private static Timing Measure(LlamaCpp llama)
    {
        int[] prompt = Tokens();
        double bestPrefill = double.MaxValue, bestDecode = double.MaxValue;
        for (int round = 0; round <= Rounds; round++)
        {
            llama.Clear();
            long started = Stopwatch.GetTimestamp();
            llama.Decode(prompt, 0, allLogits: false);
            double prefill = Stopwatch.GetElapsedTime(started).TotalSeconds;
            started = Stopwatch.GetTimestamp();
            for (int step = 0; step < Steps; step++)
            {
                llama.Decode([Decoder<float>.ArgMax(llama.Logits(-1))], Prompt + step, allLogits: false);
            }

            double decode = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (round > 0)
            {
                bestPrefill = Math.Min(bestPrefill, prefill);
                bestDecode = Math.Min(bestDecode, decode);
            }
        }

        return new Timing(bestPrefill, bestDecode, 0, 0, 0);
    }

    private static int[] Tokens()
    {
        var random = new Random(11);
        return [.. Enumerable.Range(0, Prompt).Select(_ => random.Next(Shape.Vocabulary))];
    }

    /// <summary>Seconds for the prompt and for all decode steps; the Rope.Simd share of each and Rope.Simd's seconds in decode.</summary>
    private sealed record Timing(double Prefill, double Decode, double PrefillRopeShare, double DecodeRopeShare, double DecodeRope);
}
