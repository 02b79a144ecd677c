using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Rope.Simd.Bench;

/// <summary>What a result depends on: the CPU and its flags, the cores, the OS, the runtime, and the active path and knobs.</summary>
internal sealed record Fingerprint(string Id, string Cpu, string CpuFamily, string[] Flags, int Cores, string Os, string Runtime,
    string DefaultPath, string[] Paths, string[] Knobs)
{
    public static Fingerprint Capture()
    {
        CpuIdentity cpu = CpuIdentity.Capture();
        string[] knobs = [.. Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(name => name.StartsWith("DOTNET_Enable", StringComparison.Ordinal) || name == "DOTNET_PreferredVectorBitWidth")
            .Order(StringComparer.Ordinal).Select(name => $"{name}={Environment.GetEnvironmentVariable(name)}")];
        string defaultPath = RopeEngine.Default.Path.ToString();
        string id = Slug($"{cpu.Name} {cpu.Family} {defaultPath}");
        return new Fingerprint(id, cpu.Name, cpu.Family, cpu.Flags, Environment.ProcessorCount,
            RuntimeInformation.OSDescription, $".NET {Environment.Version}", defaultPath, [.. RopeEngine.Supported.Select(e => e.Path.ToString())], knobs);
    }

    /// <summary>One line for a report header.</summary>
    public string Describe() =>
        $"{Cpu} ({CpuFamily}); {Cores} cores; {Os}; {Runtime}; flags {string.Join(' ', Flags)}; default path {DefaultPath}" +
        (Knobs.Length > 0 ? $" under {string.Join(' ', Knobs)}" : "");

    private static string Slug(string text) => Regex.Replace(text.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');
}
