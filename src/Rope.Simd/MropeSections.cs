using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// Which of a token's three position streams (temporal, height, width) each rotated pair takes its angle from, for
/// multimodal RoPE. Immutable and thread-safe.
/// </summary>
public sealed class MropeSections
{
    /// <summary>The temporal stream (and the only one for text tokens, whose three positions are equal).</summary>
    public const int Temporal = 0;

    /// <summary>The height stream.</summary>
    public const int Height = 1;

    /// <summary>The width stream.</summary>
    public const int Width = 2;

    private readonly byte[] streamOfPair;

    private MropeSections(byte[] streamOfPair) => this.streamOfPair = streamOfPair;

    /// <summary>Number of rotated pairs covered (rotary dim / 2).</summary>
    public int PairCount => streamOfPair.Length;

    /// <summary>
    /// Qwen2-VL's M-RoPE (mrope_section [t, h, w]): the first <paramref name="temporal"/> pairs follow the temporal
    /// position, the next <paramref name="height"/> the height, the last <paramref name="width"/> the width.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A section is negative, or all are zero.</exception>
    public static MropeSections Contiguous(int temporal, int height, int width)
    {
        int pairs = Count(temporal, height, width);
        var map = new byte[pairs];
        map.AsSpan(temporal, height).Fill(Height);
        map.AsSpan(temporal + height, width).Fill(Width);
        return new MropeSections(map);
    }

    /// <summary>
    /// Qwen3-VL's interleaved M-RoPE: pair i follows the height stream when i mod 3 = 1 and i &lt; 3·height, the width
    /// stream when i mod 3 = 2 and i &lt; 3·width, and the temporal stream otherwise.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A section is negative, or all are zero.</exception>
    public static MropeSections Interleaved(int temporal, int height, int width)
    {
        int pairs = Count(temporal, height, width);
        var map = new byte[pairs];
        for (int i = 0; i < pairs; i++)
        {
            map[i] = i % 3 == 1 && i < 3 * height ? (byte)Height : i % 3 == 2 && i < 3 * width ? (byte)Width : (byte)Temporal;
        }

        return new MropeSections(map);
    }

    /// <summary>The stream (<see cref="Temporal"/>, <see cref="Height"/> or <see cref="Width"/>) of pair <paramref name="pair"/>.</summary>
    public int StreamOf(int pair) => streamOfPair[pair];

    private static int Count(int temporal, int height, int width)
    {
        Guard.NonNegative(temporal);
        Guard.NonNegative(height);
        Guard.NonNegative(width);
        long pairs = (long)temporal + height + width;
        return pairs is > 0 and <= int.MaxValue / 2
            ? (int)pairs
            : throw new ArgumentOutOfRangeException(nameof(temporal), pairs, "The sections must cover at least one pair.");
    }
}
