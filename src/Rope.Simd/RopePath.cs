namespace Rope.Simd;

/// <summary>The instruction-set paths a <see cref="RopeEngine"/> can run on.</summary>
public enum RopePath
{
    /// <summary>Portable scalar float32 code; runs everywhere, including with hardware intrinsics disabled.</summary>
    Scalar,

    /// <summary>128-bit vectors: SSE on x64, AdvSimd (NEON) on ARM64.</summary>
    Vector128,

    /// <summary>256-bit vectors: AVX2 with FMA on x64.</summary>
    Vector256,

    /// <summary>512-bit vectors: AVX-512F on x64.</summary>
    Vector512,
}
