using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd.Drivers;

/// <summary>How the drivers take the float scratch of a call: from the stack up to <see cref="StackLimit"/>, rented above.</summary>
internal static class Scratch
{
    /// <summary>
    /// Floats taken from the stack at most (about 25 KB: a rotary dim of 1024 with 16-bit caller rows assembled into a
    /// multimodal row); more is rented from the shared array pool.
    /// </summary>
    public const int StackLimit = 6 * 1024;

    /// <summary>Floats in a 64-byte cache line: the extra a stack allocation needs to be aligned to one.</summary>
    public const int CacheLineFloats = 64 / sizeof(float);

    /// <summary>Starts <paramref name="length"/> floats of <paramref name="stackMemory"/> on a 64-byte boundary, so no vector load from them splits a cache line.</summary>
    public static unsafe Span<float> AlignToCacheLine(Span<float> stackMemory, int length)
    {
        int misalignment = (int)((nuint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(stackMemory)) / sizeof(float) % CacheLineFloats);
        return stackMemory.Slice((CacheLineFloats - misalignment) % CacheLineFloats, length);
    }
}
