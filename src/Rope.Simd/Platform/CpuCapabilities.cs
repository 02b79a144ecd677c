using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Rope.Simd.Platform;

/// <summary>
/// The widest path the processor itself runs, read from the hardware rather than from what this runtime enables, so a
/// NativeAOT build compiled for a lower instruction set (or a DOTNET_ knob) can be told apart from a CPU that lacks it.
/// </summary>
internal static class CpuCapabilities
{
    public static RopePath WidestPath { get; } = Detect();

    private static RopePath Detect() => RuntimeInformation.ProcessArchitecture switch
    {
        // AdvSimd is part of every ARMv8-A core .NET runs on.
        Architecture.Arm64 => RopePath.Vector128,
        Architecture.X64 => X86Base.IsSupported ? FromCpuId() : FromLinuxCpuFlags(),
        _ => RopePath.Scalar,
    };

    private static RopePath FromCpuId()
    {
        const int Fma = 1 << 12, OsXsave = 1 << 27, Avx2 = 1 << 5, Avx512F = 1 << 16;
        (_, _, int leaf1Ecx, _) = X86Base.CpuId(1, 0);
        (int maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        int leaf7Ebx = maxLeaf >= 7 ? X86Base.CpuId(7, 0).Ebx : 0;
        // Without OSXSAVE the OS saves no vector state beyond SSE, whatever the feature bits say. (XCR0 itself cannot
        // be read from .NET; every OS that sets OSXSAVE on these CPUs enables the AVX and AVX-512 states.)
        if ((leaf1Ecx & OsXsave) == 0)
        {
            return RopePath.Vector128;
        }

        return (leaf7Ebx & Avx512F) != 0 ? RopePath.Vector512
            : (leaf7Ebx & Avx2) != 0 && (leaf1Ecx & Fma) != 0 ? RopePath.Vector256
            : RopePath.Vector128;
    }

    /// <summary>With every intrinsic switched off (DOTNET_EnableHWIntrinsic=0) CPUID is off too; Linux still lists the flags.</summary>
    private static RopePath FromLinuxCpuFlags()
    {
        try
        {
            string? flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("flags", StringComparison.Ordinal));
            if (flags is null)
            {
                return RopePath.Vector128;
            }

            string[] names = flags.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries);
            return names.Contains("avx512f") ? RopePath.Vector512
                : names.Contains("avx2") && names.Contains("fma") ? RopePath.Vector256
                : RopePath.Vector128;
        }
        catch (IOException)
        {
            return RopePath.Vector128;
        }
        catch (UnauthorizedAccessException)
        {
            return RopePath.Vector128;
        }
    }
}
