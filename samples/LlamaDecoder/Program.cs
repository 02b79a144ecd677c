using System.Diagnostics;
using Rope.Simd;
using Rope.Simd.Samples.LlamaDecoder.Decoding;
using Rope.Simd.Samples.LlamaDecoder.Model;

// Usage:
//   random PATH [--arch llama|qwen3] [--half] [--scaling none|llama3|yarn]   writes a small random-weight model
//   PATH [--prompt 1,2,3] [--steps N] [--context N] [--keep N] [--cache f16|f32] [--threads N]
//        greedy decoding; when the context is full, llama.cpp's context shift drops half of what follows the kept tokens.
var options = new Dictionary<string, string>(StringComparer.Ordinal);
var positional = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--half")
    {
        options["half"] = "true";
    }
    else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
    {
        options[args[i][2..]] = args[++i];
    }
    else
    {
        positional.Add(args[i]);
    }
}

string Option(string name, string fallback) => options.TryGetValue(name, out string? value) ? value : fallback;

if (positional is ["random", string output])
{
    RandomModel.Write(output, new RandomModelOptions
    {
        Architecture = Option("arch", "llama"),
        HalfWeights = options.ContainsKey("half"),
        Scaling = Enum.Parse<RandomModelScaling>(Option("scaling", "none"), ignoreCase: true),
    });
    Console.WriteLine($"wrote {output}");
    return 0;
}

if (positional is not [string path])
{
    Console.Error.WriteLine("usage: random PATH [--arch llama|qwen3] [--half] [--scaling none|llama3|yarn] | PATH [--prompt 1,2,3] [--steps N] "
        + "[--context N] [--keep N] [--cache f16|f32] [--threads N]");
    return 2;
}

LlamaModel model = LlamaModel.Load(path);
int[] prompt = [.. Option("prompt", "1,2,3,4,5,6,7,8").Split(',').Select(int.Parse)];
int steps = int.Parse(Option("steps", "64")), context = int.Parse(Option("context", "256")), keep = int.Parse(Option("keep", "4"));
int threads = int.Parse(Option("threads", Environment.ProcessorCount.ToString()));
Console.WriteLine($"{model.Rope.Architecture}: {model.Layers.Count} layers, {model.QueryHeads} query / {model.KeyValueHeads} KV heads of {model.HeadDim}, "
    + $"{model.Rope.Layout} pairs, {model.Rope.Configuration.ScalingType} rope, weights {(model.HalfWeights ? "float16" : "float32")}; "
    + $"Rope.Simd path {RopeEngine.Default.Path}");
return Option("cache", "f16") == "f32" ? Run(new Decoder<float>(model, context, threads)) : Run(new Decoder<Half>(model, context, threads));

int Run<TCache>(Decoder<TCache> decoder)
    where TCache : unmanaged
{
    var logits = new float[model.VocabularySize];
    long started = Stopwatch.GetTimestamp();
    decoder.Forward(prompt, logits);
    TimeSpan prefill = Stopwatch.GetElapsedTime(started);
    var tokens = new List<int>();
    started = Stopwatch.GetTimestamp();
    for (int i = 0; i < steps; i++)
    {
        int next = Decoder<TCache>.ArgMax(logits);
        tokens.Add(next);
        if (decoder.Position == context)
        {
            int discard = (decoder.Position - keep) / 2;
            decoder.ShiftContext(keep, discard);
            Console.WriteLine($"context full: kept {keep}, dropped {discard}, continuing at position {decoder.Position}");
        }

        decoder.Forward([next], logits);
    }

    TimeSpan decode = Stopwatch.GetElapsedTime(started);
    Console.WriteLine($"generated: {string.Join(' ', tokens)}");
    Console.WriteLine($"prefill {prompt.Length / prefill.TotalSeconds:F0} tokens/s, decode {steps / decode.TotalSeconds:F1} tokens/s, "
        + $"Rope.Simd {100 * decoder.RopeTime / decoder.TotalTime:F2}% of the decoder's time");
    return 0;
}
