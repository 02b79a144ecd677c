using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Rope.Simd.Bench;

/// <summary>
/// The processor's name, family/model and the flags that matter, from the processor itself where it can say (CPUID on
/// x86, on any OS) and from the operating system elsewhere (/proc/cpuinfo and the MIDR on Linux, the registry on
/// Windows, sysctl on macOS). <see cref="Source"/> names where the name came from.
/// </summary>
internal sealed record CpuIdentity(string Name, string Family, string[] Flags, string Source)
{
    public static CpuIdentity Capture()
    {
        Dictionary<string, string> cpuInfo = ReadCpuInfo();
        CpuIdentity? identity = X86Base.IsSupported ? FromCpuId() : null;
        identity ??= FromCpuInfo(cpuInfo);
        identity ??= FromOperatingSystem();
        return identity ?? new CpuIdentity(RuntimeInformation.ProcessArchitecture.ToString(), "", ArmFlags(), "process architecture");
    }

    /// <summary>Brand string (leaves 0x80000002-4), family and model as Linux reports them (leaf 1), feature bits (leaves 1 and 7).</summary>
    private static CpuIdentity? FromCpuId()
    {
        (int maxExtended, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
        if ((uint)maxExtended < 0x80000004)
        {
            return null;
        }

        Span<int> brand = stackalloc int[12];
        for (int leaf = 0; leaf < 3; leaf++)
        {
            (brand[4 * leaf], brand[4 * leaf + 1], brand[4 * leaf + 2], brand[4 * leaf + 3]) = X86Base.CpuId(unchecked((int)0x80000002) + leaf, 0);
        }

        string name = System.Text.Encoding.ASCII.GetString(MemoryMarshal.AsBytes(brand)).TrimEnd('\0').Trim();
        (int signature, _, int leaf1Ecx, _) = X86Base.CpuId(1, 0);
        int family = (signature >> 8) & 0xF, model = (signature >> 4) & 0xF;
        if (family == 0xF)
        {
            family += (signature >> 20) & 0xFF;
        }

        if (family >= 6)
        {
            model += ((signature >> 16) & 0xF) << 4;
        }

        (int maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        (_, int leaf7Ebx, _, int leaf7Edx) = maxLeaf >= 7 ? X86Base.CpuId(7, 0) : default;
        (int leaf71Eax, _, _, _) = maxLeaf >= 7 ? X86Base.CpuId(7, 1) : default;
        bool osSavesAvx = Bit(leaf1Ecx, 27);
        var flags = new List<string>();
        void Add(string flag, bool present, bool needsAvxState = true)
        {
            if (present && (osSavesAvx || !needsAvxState))
            {
                flags.Add(flag);
            }
        }

        Add("avx512f", Bit(leaf7Ebx, 16));
        Add("avx512bw", Bit(leaf7Ebx, 30));
        Add("avx512vl", Bit(leaf7Ebx, 31));
        Add("avx512dq", Bit(leaf7Ebx, 17));
        Add("avx512_bf16", Bit(leaf71Eax, 5));
        Add("avx512_fp16", Bit(leaf7Edx, 23));
        Add("avx2", Bit(leaf7Ebx, 5));
        Add("fma", Bit(leaf1Ecx, 12));
        Add("f16c", Bit(leaf1Ecx, 29));
        Add("avx", Bit(leaf1Ecx, 28));
        Add("sse4_2", Bit(leaf1Ecx, 20), needsAvxState: false);
        return new CpuIdentity(name.Length > 0 ? name : "x86", $"family {family} model {model}", [.. flags], "CPUID");
    }

    private static bool Bit(int register, int bit) => ((register >> bit) & 1) != 0;

    /// <summary>Linux without CPUID (ARM64, or x86 with intrinsics switched off): /proc/cpuinfo.</summary>
    private static CpuIdentity? FromCpuInfo(Dictionary<string, string> cpuInfo)
    {
        string[] flagsThatMatter =
            ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16", "avx512_fp16", "avx2", "fma", "f16c", "avx", "sse4_2", "asimd", "sve", "sve2"];
        HashSet<string> present = [.. (cpuInfo.GetValueOrDefault("flags") ?? cpuInfo.GetValueOrDefault("Features") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        string[] flags = [.. flagsThatMatter.Where(present.Contains)];
        if (cpuInfo.TryGetValue("model name", out string? modelName) && cpuInfo.TryGetValue("cpu family", out string? family))
        {
            return new CpuIdentity(modelName, $"family {family} model {cpuInfo.GetValueOrDefault("model")}", flags, "/proc/cpuinfo");
        }

        if (cpuInfo.TryGetValue("CPU implementer", out string? implementer) && cpuInfo.TryGetValue("CPU part", out string? part))
        {
            return new CpuIdentity(ArmCoreName(implementer, part), $"implementer {implementer} part {part}", flags, "/proc/cpuinfo (MIDR)");
        }

        return null;
    }

    /// <summary>Arm's MIDR implementer and part numbers of common server and desktop cores, as Linux's lscpu names them.</summary>
    private static string ArmCoreName(string implementer, string part) => (implementer.ToLowerInvariant(), part.ToLowerInvariant()) switch
    {
        ("0x41", "0xd08") => "Arm Cortex-A72",
        ("0x41", "0xd0b") => "Arm Cortex-A76",
        ("0x41", "0xd0c") => "Arm Neoverse-N1",
        ("0x41", "0xd40") => "Arm Neoverse-V1",
        ("0x41", "0xd49") => "Arm Neoverse-N2",
        ("0x41", "0xd4f") => "Arm Neoverse-V2",
        ("0x41", "0xd84") => "Arm Neoverse-V3",
        ("0xc0", _) => "Ampere " + part,
        ("0x61", _) => "Apple " + part,
        _ => $"Arm implementer {implementer} part {part}",
    };

    private static CpuIdentity? FromOperatingSystem()
    {
        if (OperatingSystem.IsWindows())
        {
            using Microsoft.Win32.RegistryKey? key = Microsoft.Win32.Registry.LocalMachine.OpenSubKey(@"HARDWARE\DESCRIPTION\System\CentralProcessor\0");
            if (key?.GetValue("ProcessorNameString") is string name)
            {
                return new CpuIdentity(name.Trim(), key.GetValue("Identifier") as string ?? "", ArmFlags(), "Windows registry");
            }
        }
        else if (OperatingSystem.IsMacOS() && Sysctl("machdep.cpu.brand_string") is string brand)
        {
            return new CpuIdentity(brand, Sysctl("hw.cpufamily") is string family ? $"cpufamily {family}" : "", ArmFlags(), "sysctl");
        }

        return null;
    }

    private static string[] ArmFlags() => AdvSimd.IsSupported ? ["asimd"] : [];

    private static string? Sysctl(string name)
    {
        try
        {
            using Process? sysctl = Process.Start(new ProcessStartInfo("sysctl", ["-n", name]) { RedirectStandardOutput = true });
            string? value = sysctl?.StandardOutput.ReadToEnd().Trim();
            sysctl?.WaitForExit();
            return sysctl?.ExitCode == 0 && !string.IsNullOrEmpty(value) ? value : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

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
}
