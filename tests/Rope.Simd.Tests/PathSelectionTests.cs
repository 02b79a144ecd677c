using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Which path this process runs. CI runs the suite under the runtime's ISA knobs and sets ROPE_SIMD_EXPECTED_PATH to the
/// path each leg must get, so a knob the runtime ignored turns the leg red instead of silently testing the default.
/// </summary>
public class PathSelectionTests
{
    public const string ExpectedPathVariable = "ROPE_SIMD_EXPECTED_PATH";

    [Fact]
    public void DefaultIsTheWidestAcceleratedPath()
    {
        RopePath widest = Vector512.IsHardwareAccelerated && RopeEngine.IsSupported(RopePath.Vector512) ? RopePath.Vector512
            : Vector256.IsHardwareAccelerated && RopeEngine.IsSupported(RopePath.Vector256) ? RopePath.Vector256
            : Vector128.IsHardwareAccelerated ? RopePath.Vector128
            : RopePath.Scalar;
        Assert.Equal(widest, RopeEngine.Default.Path);
    }

    [Fact]
    public void DefaultPathIsTheOneThisLegExpects()
    {
        string? expected = Environment.GetEnvironmentVariable(ExpectedPathVariable);
        Assert.SkipWhen(string.IsNullOrEmpty(expected), $"{ExpectedPathVariable} is not set (CI sets it for every leg)");
        Assert.Equal(Enum.Parse<RopePath>(expected!), RopeEngine.Default.Path);
    }

    [Fact]
    public void SupportedPathsAreListedWidestFirstAndEndWithScalar()
    {
        RopePath[] paths = [.. RopeEngine.Supported.Select(engine => engine.Path)];
        Assert.Equal(paths.OrderDescending(), paths);
        Assert.Equal(RopePath.Scalar, paths[^1]);
        Assert.Contains(RopeEngine.Default, RopeEngine.Supported);
        Assert.All(paths, path => Assert.Equal(path, RopeEngine.Get(path).Path));
    }

    [Fact]
    public void OnArm64TheNeonPathIsEnumeratedExactlyWhenAdvSimdIsOn()
    {
        Assert.SkipUnless(RuntimeInformation.ProcessArchitecture == Architecture.Arm64, "ARM64 only (run under qemu by CI)");
        Assert.Equal(AdvSimd.Arm64.IsSupported, RopeEngine.IsSupported(RopePath.Vector128));
        Assert.False(RopeEngine.IsSupported(RopePath.Vector256));
        Assert.False(RopeEngine.IsSupported(RopePath.Vector512));
    }

    [Fact]
    public void TheCpusWidestPathIsNeverNarrowerThanAPathThisProcessRuns()
    {
        Assert.All(RopeEngine.Supported, engine => Assert.True(engine.Path <= RopeEngine.CpuWidestPath, $"{engine.Path} runs on a CPU said to stop at {RopeEngine.CpuWidestPath}"));
    }

    [Fact]
    public void TheCpusWidestPathMatchesTheFlagsLinuxReports()
    {
        // The same answer under every ISA knob: the knobs change what the runtime enables, not what the CPU has.
        RopePath expected = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.Arm64 => RopePath.Vector128,
            Architecture.X64 => FromCpuInfo(),
            _ => RopePath.Scalar,
        };
        Assert.Equal(expected, RopeEngine.CpuWidestPath);

        static RopePath FromCpuInfo()
        {
            Assert.SkipUnless(File.Exists("/proc/cpuinfo"), "needs Linux's /proc/cpuinfo as the independent source");
            HashSet<string> flags = [.. File.ReadLines("/proc/cpuinfo").First(line => line.StartsWith("flags", StringComparison.Ordinal)).Split(' ')];
            return flags.Contains("avx512f") ? RopePath.Vector512
                : flags.Contains("avx2") && flags.Contains("fma") ? RopePath.Vector256
                : RopePath.Vector128;
        }
    }
}
