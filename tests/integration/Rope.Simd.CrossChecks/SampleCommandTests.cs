using System.Diagnostics;

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
