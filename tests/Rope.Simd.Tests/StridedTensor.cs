using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>Factories and shapes for <see cref="StridedTensor{T}"/>.</summary>
public static class StridedTensor
{
    public static readonly float Canary = BitConverter.Int32BitsToSingle(0x7FC0_5A5A);

    public static StridedTensor<float> Create(float[] packed, RopeShape shape, int offset) => StridedTensor<float>.Create(packed, shape, offset, Canary);

    public static StridedTensor<ushort> Create(PackedType type, ushort[] packed, RopeShape shape, int offset) =>
        StridedTensor<ushort>.Create(packed, shape, offset, PackedElements.Canary(type));

    /// <summary>Random strides with gaps, in token-major or head-major order, for the given counts.</summary>
    public static RopeShape RandomShape(Random random, int tokens, int heads, int headDim)
    {
        int gap = random.Next(3) * 2;
        return random.Next(3) switch
        {
            0 => new RopeShape(tokens, heads, headDim),
            1 => new RopeShape(tokens, heads, headDim, tokenStride: heads * (headDim + gap) + random.Next(5), headStride: headDim + gap),
            _ => new RopeShape(tokens, heads, headDim, tokenStride: headDim + gap, headStride: tokens * (headDim + gap) + random.Next(5)),
        };
    }
}

/// <summary>
/// A tensor laid out with the given strides at an arbitrary offset in a larger array. Every element that is not part
/// of a head (gaps between heads, padding before and after the span) holds a NaN canary with a distinctive payload,
/// so a path that reads or writes outside its heads or its span is caught.
/// </summary>
public sealed class StridedTensor<T>
    where T : unmanaged
{
    private const int Padding = 37;
    private readonly T canary;

    private StridedTensor(T[] buffer, int offset, RopeShape shape, T canary)
    {
        Buffer = buffer;
        Offset = offset;
        Shape = shape;
        this.canary = canary;
    }

    public T[] Buffer { get; }

    public int Offset { get; }

    public RopeShape Shape { get; }

    public Span<T> Span => Buffer.AsSpan(Offset, Shape.RequiredLength);

    /// <summary>A tensor whose heads hold <paramref name="packed"/> ([tokens][heads][headDim]) and everything else the canary.</summary>
    public static StridedTensor<T> Create(T[] packed, RopeShape shape, int offset, T canary)
    {
        var buffer = new T[offset + shape.RequiredLength + Padding];
        Array.Fill(buffer, canary);
        var tensor = new StridedTensor<T>(buffer, offset, shape, canary);
        tensor.Scatter(packed);
        return tensor;
    }

    public void Scatter(T[] packed)
    {
        for (int token = 0; token < Shape.Tokens; token++)
        {
            for (int head = 0; head < Shape.Heads; head++)
            {
                packed.AsSpan((token * Shape.Heads + head) * Shape.HeadDim, Shape.HeadDim).CopyTo(Buffer.AsSpan(HeadStart(token, head)));
            }
        }
    }

    public T[] Gather()
    {
        var packed = new T[Shape.Tokens * Shape.Heads * Shape.HeadDim];
        for (int token = 0; token < Shape.Tokens; token++)
        {
            for (int head = 0; head < Shape.Heads; head++)
            {
                Buffer.AsSpan(HeadStart(token, head), Shape.HeadDim).CopyTo(packed.AsSpan((token * Shape.Heads + head) * Shape.HeadDim));
            }
        }

        return packed;
    }

    /// <summary>Asserts that every element outside the heads still holds the canary, bit for bit.</summary>
    public void AssertCanariesIntact(string context)
    {
        var insideHead = new bool[Buffer.Length];
        for (int token = 0; token < Shape.Tokens; token++)
        {
            for (int head = 0; head < Shape.Heads; head++)
            {
                insideHead.AsSpan(HeadStart(token, head), Shape.HeadDim).Fill(true);
            }
        }

        ReadOnlySpan<byte> canaryBytes = MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in canary));
        for (int i = 0; i < Buffer.Length; i++)
        {
            if (!insideHead[i] && !MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in Buffer[i])).SequenceEqual(canaryBytes))
            {
                Assert.Fail($"{context}: element {i - Offset} relative to the span start, outside every head, was overwritten with {Buffer[i]}.");
            }
        }
    }

    private int HeadStart(int token, int head) => Offset + token * Shape.TokenStride + head * Shape.HeadStride;
}
