using System.Buffers.Binary;
using System.Diagnostics;
using System.Reflection;
using System.Text;
using Rope.Simd.Samples.LlamaDecoder.Gguf;
using Rope.Simd.Samples.LlamaDecoder.Model;

namespace Rope.Simd.CrossChecks;

/// <summary>The decoder sample's README commands, run as the README gives them (through the sample's own executable).</summary>
public sealed class SampleCommandTests
{
    [Fact]
    public void ReadmeCommandsWriteAModelAndDecodeThroughContextShifts()
    {
        string model = Path.Combine(Path.GetTempPath(), $"rope-simd-sample-{Environment.ProcessId}.gguf");
        try
        {
            Assert.Contains($"wrote {model}", Run("random", model, "--half"));
            string decoded = Run(model, "--prompt", "1,2,3,4,5,6,7,8", "--steps", "200", "--context", "128");
            Assert.Contains("llama: 2 layers, 8 query / 2 KV heads of 64, Interleaved pairs", decoded);
            Assert.Contains("context full: kept 4, dropped 62, continuing at position 66", decoded);
            string[] generated = decoded.Split('\n').Single(line => line.StartsWith("generated: ", StringComparison.Ordinal))["generated: ".Length..].Split(' ');
            Assert.Equal(200, generated.Length);
            Assert.All(generated, token => Assert.InRange(int.Parse(token), 0, 255));
            Assert.Matches(@"Rope\.Simd \d+\.\d\d% of the decoder's time", decoded);
        }
        finally
        {
            File.Delete(model);
        }
    }

    [Fact]
    public void HelpPrintsUsageAndExitsZero()
    {
        foreach (string help in new[] { "--help", "-h" })
        {
            (int exitCode, string output, string error) = Start(help);
            Assert.True(exitCode == 0, $"{help}: exit {exitCode}: {error}");
            Assert.StartsWith("usage: ", output, StringComparison.Ordinal);
            Assert.Contains("random PATH", output);
            Assert.Equal("", error);
        }
    }

    public static TheoryData<string> MalformedFiles() =>
        ["huge block_count", "negative block_count", "block_count as a string", "truncated file", "five tensor dimensions", "dimension of 2^63",
         "dimensions overflowing their product", "tensor past the end", "tensor offset of 2^64 - 1", "string of 2^64 - 1 bytes",
         "array of 2^62 strings", "array of 2^61 uint64s", "general.alignment 0", "epsilon as a string", "not GGUF", "empty file",
         "missing file", "query heads not a multiple of the KV heads"];

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void MalformedFilesEndInOneErrorLine(string malformation)
    {
        string path = Path.Combine(Path.GetTempPath(), $"rope-simd-malformed-{Environment.ProcessId}-{malformation.Replace(' ', '-')}.gguf");
        try
        {
            if (malformation != "missing file")
            {
                File.WriteAllBytes(path, Malformed(malformation));
            }

            (int exitCode, string output, string error) = Start(path, "--steps", "2", "--context", "16", "--threads", "1");
            AssertOneErrorLine(malformation, exitCode, error);
            Assert.DoesNotContain("generated:", output);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("--steps", "many")]
    [InlineData("--steps", "-1")]
    [InlineData("--context", "0")]
    [InlineData("--context", "99999999999")]
    [InlineData("--keep", "16")]
    [InlineData("--prompt", "1,x")]
    [InlineData("--prompt", "1,999")]
    [InlineData("--cache", "f8")]
    [InlineData("--threads", "0")]
    [InlineData("--unknown", "1")]
    public void BadArgumentsEndInOneErrorLine(string option, string value)
    {
        string model = Path.Combine(Path.GetTempPath(), $"rope-simd-arguments-{Environment.ProcessId}-{option[2..]}-{value.Length}.gguf");
        try
        {
            File.WriteAllBytes(model, SmallModel());
            (int exitCode, _, string error) = Start(model, "--context", "16", "--steps", "2", option, value);
            AssertOneErrorLine($"{option} {value}", exitCode, error);
        }
        finally
        {
            File.Delete(model);
        }

        (int noFile, _, string noFileError) = Start();
        AssertOneErrorLine("no arguments", noFile, noFileError);
        (int badScaling, _, string badScalingError) = Start("random", model, "--scaling", "cubic");
        AssertOneErrorLine("--scaling cubic", badScaling, badScalingError);
    }

    /// <summary>
    /// 2,000 seeded mutations of a small valid model (bytes overwritten, extreme integers written over the header,
    /// truncations), each run through the sample's entry point in this process: every one decodes or ends in one
    /// error line and a non-zero exit, none throws.
    /// </summary>
    [Fact]
    public void MutatedFilesDecodeOrEndInOneErrorLine()
    {
        byte[] valid = SmallModel();
        int headerLength = valid.AsSpan().IndexOf("blk.0.ffn_down.weight"u8) + 64;
        string path = Path.Combine(Path.GetTempPath(), $"rope-simd-mutated-{Environment.ProcessId}.gguf");
        MethodInfo entry = typeof(LlamaModel).Assembly.EntryPoint!;
        var random = new Random(20260701);
        ulong[] extremes = [0, 1, 9, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ulong.MaxValue, 1UL << 32, 1UL << 62];
        TextWriter standardOutput = Console.Out, standardError = Console.Error;
        var failures = new List<string>();
        int decoded = 0;
        try
        {
            for (int mutation = 0; mutation < 2000 && failures.Count < 5; mutation++)
            {
                byte[] bytes = [.. valid];
                string what;
                switch (random.Next(4))
                {
                    case 0:
                        int at = random.Next(headerLength);
                        bytes[at] = (byte)random.Next(256);
                        what = $"byte {at} = {bytes[at]}";
                        break;
                    case 1:
                        at = random.Next(headerLength - 8);
                        ulong value = extremes[random.Next(extremes.Length)];
                        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), value);
                        what = $"uint64 at {at} = {value}";
                        break;
                    case 2:
                        at = random.Next(headerLength - 4);
                        uint word = (uint)extremes[random.Next(extremes.Length)];
                        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), word);
                        what = $"uint32 at {at} = {word}";
                        break;
                    default:
                        int length = random.Next(bytes.Length);
                        bytes = bytes[..length];
                        what = $"truncated to {length} bytes";
                        break;
                }

                File.WriteAllBytes(path, bytes);
                var output = new StringWriter();
                var error = new StringWriter();
                Console.SetOut(output);
                Console.SetError(error);
                int exitCode;
                try
                {
                    exitCode = (int)entry.Invoke(null, [new[] { path, "--steps", "2", "--context", "16", "--threads", "1" }])!;
                }
                catch (TargetInvocationException exception)
                {
                    failures.Add($"mutation {mutation} ({what}) threw {exception.InnerException?.GetType().Name}: {exception.InnerException?.Message}");
                    continue;
                }
                finally
                {
                    Console.SetOut(standardOutput);
                    Console.SetError(standardError);
                }

                string message = error.ToString();
                if (exitCode == 0)
                {
                    decoded++;
                    if (message.Length != 0 || !output.ToString().Contains("generated: ", StringComparison.Ordinal))
                    {
                        failures.Add($"mutation {mutation} ({what}) exited 0 without decoding: {message}");
                    }
                }
                else if (!message.StartsWith("error: ", StringComparison.Ordinal) || message.TrimEnd('\n').Contains('\n'))
                {
                    failures.Add($"mutation {mutation} ({what}) exited {exitCode} with: {message}");
                }
            }
        }
        finally
        {
            File.Delete(path);
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        Assert.InRange(decoded, 1, 1999);
    }

    private static void AssertOneErrorLine(string what, int exitCode, string error)
    {
        Assert.True(exitCode is 1 or 2, $"{what}: exit {exitCode}: {error}");
        Assert.DoesNotContain("Unhandled exception", error);
        Assert.DoesNotContain("   at ", error);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.True(error.TrimEnd('\n').Split('\n').Length == 1, $"{what}: more than one line: {error}");
    }

    // A one-layer model of a few kilobytes: 2 query heads and 1 KV head of 8, vocabulary 16.
    private static byte[] SmallModel()
    {
        string path = Path.Combine(Path.GetTempPath(), $"rope-simd-small-{Environment.ProcessId}-{Guid.NewGuid():N}.gguf");
        try
        {
            RandomModel.Write(path, new RandomModelOptions { Layers = 1, QueryHeads = 2, KeyValueHeads = 1, HeadDim = 8, FeedForward = 16, Vocabulary = 16 });
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] Malformed(string malformation)
    {
        byte[] bytes = SmallModel();
        // The byte after a key's name: its uint32 type, then its value.
        int ValueOf(string key) => bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(key)) + key.Length + 4;
        // The byte after a tensor's name: its uint32 dimension count, the dimensions, its type and its offset.
        int InfoOf(string name) => bytes.AsSpan().IndexOf([.. BitConverter.GetBytes((ulong)name.Length), .. Encoding.UTF8.GetBytes(name)]) + 8 + name.Length;
        byte[] header = [.. "GGUF"u8, .. BitConverter.GetBytes(3u), .. BitConverter.GetBytes(0UL), .. BitConverter.GetBytes(1UL)];
        switch (malformation)
        {
            case "huge block_count":
                BitConverter.GetBytes(int.MaxValue).CopyTo(bytes, ValueOf("llama.block_count"));
                return bytes;
            case "negative block_count":
                BitConverter.GetBytes(-3).CopyTo(bytes, ValueOf("llama.block_count"));
                BitConverter.GetBytes(5u).CopyTo(bytes, ValueOf("llama.block_count") - 4);   // int32
                return bytes;
            case "block_count as a string":
                // uint32 type 4 becomes string type 8: its 4-byte value and the next key's bytes become a string length.
                int at = ValueOf("llama.block_count");
                BitConverter.GetBytes(8u).CopyTo(bytes, at - 4);
                BitConverter.GetBytes(1UL).CopyTo(bytes, at);
                return [.. bytes[..(at + 8)], (byte)'x', .. bytes[(at + 4)..]];
            case "truncated file":
                return bytes[..(bytes.Length / 2)];
            case "five tensor dimensions":
                BitConverter.GetBytes(5u).CopyTo(bytes, InfoOf("blk.0.attn_q.weight"));
                return bytes;
            case "dimension of 2^63":
                BitConverter.GetBytes(1UL << 63).CopyTo(bytes, InfoOf("blk.0.attn_q.weight") + 4);
                return bytes;
            case "dimensions overflowing their product":
                BitConverter.GetBytes(1UL << 40).CopyTo(bytes, InfoOf("blk.0.attn_q.weight") + 4);
                BitConverter.GetBytes(1UL << 40).CopyTo(bytes, InfoOf("blk.0.attn_q.weight") + 12);
                return bytes;
            case "tensor past the end":
                BitConverter.GetBytes((ulong)bytes.Length / 32 * 32).CopyTo(bytes, InfoOf("output_norm.weight") + 4 + 8 + 4);
                return bytes;
            case "tensor offset of 2^64 - 1":
                BitConverter.GetBytes(ulong.MaxValue).CopyTo(bytes, InfoOf("output_norm.weight") + 4 + 8 + 4);
                return bytes;
            case "string of 2^64 - 1 bytes":
                BitConverter.GetBytes(ulong.MaxValue).CopyTo(bytes, ValueOf("general.name"));
                return bytes;
            case "array of 2^62 strings":
                return [.. new GgufWriter().RawArray("tokenizer.ggml.tokens", 8, 1UL << 62).Bytes(), .. new byte[64]];
            case "array of 2^61 uint64s":
                return [.. new GgufWriter().RawArray("tokenizer.ggml.scores", 10, 1UL << 61).Bytes(), .. new byte[64]];
            case "general.alignment 0":
                return new GgufWriter().String("general.architecture", "llama").UInt32("general.alignment", 0).UInt32("llama.attention.head_count", 2)
                    .UInt32("llama.embedding_length", 16).Bytes();
            case "epsilon as a string":
                at = ValueOf("llama.attention.layer_norm_rms_epsilon");
                BitConverter.GetBytes(8u).CopyTo(bytes, at - 4);
                // The float's 4 bytes and 4 more become a string length of 1: "x" follows.
                BitConverter.GetBytes(1UL).CopyTo(bytes, at);
                return [.. bytes[..(at + 8)], (byte)'x', .. bytes[(at + 4)..]];
            case "not GGUF":
                return "GGML"u8.ToArray();
            case "empty file":
                return [];
            case "query heads not a multiple of the KV heads":
                BitConverter.GetBytes(3u).CopyTo(bytes, ValueOf("llama.attention.head_count_kv"));
                return bytes;
            default:
                throw new ArgumentException(malformation, nameof(malformation));
        }
    }

    private static (int ExitCode, string Output, string Error) Start(params string[] arguments)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Rope.Simd.Samples.LlamaDecoder"), arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }

    private static string Run(params string[] arguments)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Rope.Simd.Samples.LlamaDecoder"), arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd(), error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"the sample exited with {process.ExitCode}: {error}");
        return output;
    }
}
