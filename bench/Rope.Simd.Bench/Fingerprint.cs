using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.RegularExpressions;

namespace Rope.Simd.Bench;

/// <summary>What a result depends on: the CPU and its flags, the cores, the OS, the runtime, and the active path and knobs.</summary>
internal sealed record Fingerprint(string Id, string Cpu, string CpuFamily, string[] Flags, int Cores, string Os, string Runtime,
    string DefaultPath, string[] Paths, string[] Knobs)
{
    private static readonly string[] FlagsThatMatter =
        ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16", "avx512_fp16", "avx2", "fma", "f16c", "avx", "sse4_2", "asimd", "sve", "sve2"];

    public static Fingerprint Capture()
    {
        Dictionary<string, string> cpuInfo = ReadCpuInfo();
        string cpu = cpuInfo.GetValueOrDefault("model name") ?? cpuInfo.GetValueOrDefault("CPU part") ?? RuntimeInformation.ProcessArchitecture.ToString();
        string family = cpuInfo.TryGetValue("cpu family", out string? f) ? $"family {f} model {cpuInfo.GetValueOrDefault("model")}"
            : cpuInfo.TryGetValue("CPU implementer", out string? implementer) ? $"implementer {implementer} part {cpuInfo.GetValueOrDefault("CPU part")}" : "";
        HashSet<string> present = [.. (cpuInfo.GetValueOrDefault("flags") ?? cpuInfo.GetValueOrDefault("Features") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        string[] knobs = [.. Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(name => name.StartsWith("DOTNET_Enable", StringComparison.Ordinal) || name == "DOTNET_PreferredVectorBitWidth")
            .Order(StringComparer.Ordinal).Select(name => $"{name}={Environment.GetEnvironmentVariable(name)}")];
        string defaultPath = RopeEngine.Default.Path.ToString();
        string id = Slug($"{cpu} {family} {defaultPath}");
        return new Fingerprint(id, cpu, family, [.. FlagsThatMatter.Where(present.Contains)], Environment.ProcessorCount,
            RuntimeInformation.OSDescription, $".NET {Environment.Version}", defaultPath, [.. RopeEngine.Supported.Select(e => e.Path.ToString())], knobs);
    }

    /// <summary>One line for a report header.</summary>
    public string Describe() =>
        $"{Cpu} ({CpuFamily}); {Cores} cores; {Os}; {Runtime}; flags {string.Join(' ', Flags)}; default path {DefaultPath}" +
        (Knobs.Length > 0 ? $" under {string.Join(' ', Knobs)}" : "");

    private static Dictionary<string, string> ReadCpuInfo()
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        const string CpuInfo = "/proc/cpuinfo";
        if (File.Exists(CpuInfo))
        {
            foreach (string line in File.ReadLines(CpuInfo))
            {
                int colon = line.IndexOf(':');
                if (colon > 0)
                {
                    fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
                }
            }
        }

        return fields;
    }

    private static string Slug(string text) => Regex.Replace(text.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');
}
