using System.Runtime.InteropServices;

namespace Rope.Simd.Bench;

/// <summary>Native float memory aligned to 64 bytes (one cache line), optionally shifted by some elements.</summary>
public sealed unsafe class AlignedBuffer : IDisposable
{
    private readonly float* memory;

    public AlignedBuffer(int length, int misalignElements = 0)
    {
        memory = (float*)NativeMemory.AlignedAlloc((nuint)(length + misalignElements) * sizeof(float), 64);
        // Never time uninitialized memory: stray subnormals or NaNs make some CPUs many times slower.
        NativeMemory.Clear(memory, (nuint)(length + misalignElements) * sizeof(float));
        Length = length;
        Start = memory + misalignElements;
    }

    public int Length { get; }

    public float* Start { get; }

    public Span<float> Span => new(Start, Length);

    /// <summary>The start as an address, for native peers.</summary>
    public nint Address => (nint)Start;

    public void Dispose() => NativeMemory.AlignedFree(memory);
}
