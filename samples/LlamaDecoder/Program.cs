using System.Diagnostics;
using System.Globalization;
using Rope.Simd;
using Rope.Simd.Samples.LlamaDecoder.Decoding;
using Rope.Simd.Samples.LlamaDecoder.Model;

return DecoderCommand.Run(args, Console.Out, Console.Error);

/// <summary>
/// The sample's command line: writes a random model, or decodes greedily from a GGUF file. Bad arguments and malformed
/// files end in one line, <c>error: ...</c>, on the error writer and a non-zero exit code (2 for the command line,
/// 1 for the file), never in an unhandled exception.
/// </summary>
public static class DecoderCommand
{
    public const string Usage =
        """
        usage: Rope.Simd.Samples.LlamaDecoder random PATH [--arch llama|qwen3] [--half] [--scaling none|llama3|yarn]
                   writes a small random-weight model to PATH
               Rope.Simd.Samples.LlamaDecoder PATH [--prompt 1,2,3] [--steps N] [--context N] [--keep N] [--cache f16|f32] [--threads N]
                   greedy decoding of the GGUF file at PATH; when the context is full, llama.cpp's context shift drops half
                   of what follows the kept tokens
               Rope.Simd.Samples.LlamaDecoder --help
        """;

    /// <summary>The most positions --context takes: 2^20.</summary>
    public const int MaxContext = 1 << 20;

    /// <summary>Runs the command; returns the process exit code (0, 1 for a file that cannot be read or decoded, 2 for bad arguments).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        try
        {
            return Execute(args, output);
        }
        catch (UsageException exception)
        {
            error.WriteLine($"error: {OneLine(exception.Message)} (--help for usage)");
            return 2;
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException or UnauthorizedAccessException or OutOfMemoryException)
        {
            // InvalidDataException: a malformed or unsupported GGUF file; IOException: a missing or unreadable one;
            // OutOfMemoryException: a model or context larger than this machine's memory.
            error.WriteLine($"error: {OneLine(exception is OutOfMemoryException ? "not enough memory for this model and context." : exception.Message)}");
            return 1;
        }
    }

    private static int Execute(string[] args, TextWriter output)
    {
        if (args.Any(arg => arg is "--help" or "-h"))
        {
            output.WriteLine(Usage);
            return 0;
        }

        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        var positional = new List<string>();
        string[] known = ["arch", "scaling", "prompt", "steps", "context", "keep", "cache", "threads"];
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--half")
            {
                options["half"] = "true";
            }
            else if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                string name = args[i][2..];
                if (!known.Contains(name))
                {
                    throw new UsageException($"unknown option {args[i]}.");
                }

                if (i + 1 == args.Length)
                {
                    throw new UsageException($"{args[i]} needs a value.");
                }

                options[name] = args[++i];
            }
            else
            {
                positional.Add(args[i]);
            }
        }

        string Option(string name, string fallback) => options.TryGetValue(name, out string? value) ? value : fallback;

        int Integer(string name, string fallback, int min, int max)
        {
            string text = Option(name, fallback);
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
            {
                throw new UsageException($"--{name} {text} is not an integer in [{min}, {max}].");
            }

            return value;
        }

        if (positional is ["random", string output1])
        {
            string arch = Option("arch", "llama");
            if (arch is not ("llama" or "qwen3"))
            {
                throw new UsageException($"--arch {arch} is not llama or qwen3.");
            }

            string scalingText = Option("scaling", "none");
            if (!Enum.TryParse(scalingText, ignoreCase: true, out RandomModelScaling scaling) || !Enum.IsDefined(scaling)
                || scalingText.Any(char.IsDigit))
            {
                throw new UsageException($"--scaling {scalingText} is not none, llama3 or yarn.");
            }

            RandomModel.Write(output1, new RandomModelOptions { Architecture = arch, HalfWeights = options.ContainsKey("half"), Scaling = scaling });
            output.WriteLine($"wrote {output1}");
            return 0;
        }

        if (positional is not [string path])
        {
            throw new UsageException(positional.Count == 0 ? "no model file given." : $"unexpected arguments: {string.Join(' ', positional)}.");
        }

        string cache = Option("cache", "f16");
        if (cache is not ("f16" or "f32"))
        {
            throw new UsageException($"--cache {cache} is not f16 or f32.");
        }

        int steps = Integer("steps", "64", 0, int.MaxValue), context = Integer("context", "256", 1, MaxContext);
        int keep = Integer("keep", "4", 0, context - 1);
        int threads = Integer("threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), 1, 1024);
        string promptText = Option("prompt", "1,2,3,4,5,6,7,8");
        int[] prompt = [.. promptText.Split(',').Select(token => int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out int id) ? id
            : throw new UsageException($"--prompt {promptText} is not a comma-separated list of token ids."))];
        if (prompt.Length > context)
        {
            throw new UsageException($"--prompt has {prompt.Length} tokens; the context holds {context}.");
        }

        LlamaModel model = LlamaModel.Load(path);
        if (prompt.FirstOrDefault(id => id >= model.VocabularySize, -1) is int outside and >= 0)
        {
            throw new UsageException($"--prompt token {outside} is outside the model's vocabulary of {model.VocabularySize}.");
        }

        if ((long)context * model.KeyValueHeads * model.HeadDim > Array.MaxLength || (long)context * model.HeadDim > Array.MaxLength)
        {
            throw new UsageException($"--context {context} makes a cache larger than an array holds for {model.KeyValueHeads} KV heads of {model.HeadDim}.");
        }

        output.WriteLine($"{model.Rope.Name}: {model.Layers.Count} layers, {model.QueryHeads} query / {model.KeyValueHeads} KV heads of {model.HeadDim}, "
            + $"{model.Layout} pairs, {model.Rope.ScalingType} rope, weights {(model.HalfWeights ? "float16" : "float32")}; "
            + $"Rope.Simd path {RopeEngine.Default.Path}");
        return cache == "f32"
            ? Decode(new Decoder<float>(model, context, threads), model, prompt, steps, context, keep, output)
            : Decode(new Decoder<Half>(model, context, threads), model, prompt, steps, context, keep, output);
    }

    private static int Decode<TCache>(Decoder<TCache> decoder, LlamaModel model, int[] prompt, int steps, int context, int keep, TextWriter output)
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
                // A context of one token past the kept ones has nothing to drop: decoding ends there.
                int discard = (decoder.Position - keep) / 2;
                if (discard == 0)
                {
                    output.WriteLine($"context full: {context} positions with {keep} kept leave nothing to drop; stopping");
                    break;
                }

                decoder.ShiftContext(keep, discard);
                output.WriteLine($"context full: kept {keep}, dropped {discard}, continuing at position {decoder.Position}");
            }

            decoder.Forward([next], logits);
        }

        TimeSpan decode = Stopwatch.GetElapsedTime(started);
        output.WriteLine($"generated: {string.Join(' ', tokens)}");
        output.WriteLine($"prefill {prompt.Length / prefill.TotalSeconds:F0} tokens/s, decode {tokens.Count / decode.TotalSeconds:F1} tokens/s, "
            + $"Rope.Simd {100 * decoder.RopeTime / decoder.TotalTime:F2}% of the decoder's time");
        return 0;
    }

    private static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();

    /// <summary>A command line the sample cannot run.</summary>
    private sealed class UsageException(string message) : Exception(message);
}
