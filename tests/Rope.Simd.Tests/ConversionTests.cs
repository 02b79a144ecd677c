using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// float32 ⇄ bfloat16 / float16 span conversions on every path: every 16-bit pattern widened, every float32 pattern
/// narrowed on every path in the exhaustive tier (<see cref="TestTier"/>; a sampled sweep in the default tier), and every length around the block widths with canaries on both sides.
/// </summary>
public class ConversionTests
{
    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void EverySixteenBitPatternWidensExactly(RopePath path, PackedType type)
    {
        ushort[] patterns = [.. Enumerable.Range(0, 1 << 16).Select(i => (ushort)i)];
        var widened = new float[patterns.Length];

        PackedElements.Widen(RopeEngine.Get(path), type, patterns, widened);

        for (int i = 0; i < patterns.Length; i++)
        {
            uint expected = BitConverter.SingleToUInt32Bits(PackedElements.Widen(type, patterns[i]));
            if (BitConverter.SingleToUInt32Bits(widened[i]) != expected)
            {
                Assert.Fail($"{path} {type}: 0x{patterns[i]:X4} widened to 0x{BitConverter.SingleToUInt32Bits(widened[i]):X8}, expected 0x{expected:X8}.");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void FloatPatternsNarrowLikeTheScalarRounding(RopePath path, PackedType type)
    {
        bool exhaustive = TestTier.Exhaustive;
        ushort[] lowHalves = exhaustive ? [.. Enumerable.Range(0, 1 << 16).Select(i => (ushort)i)] : SampledLowHalves();
        RopeEngine engine = RopeEngine.Get(path);
        Func<uint, ushort> expected = type == PackedType.BFloat16 ? RoundToBFloat16ByDefinition : RoundToHalfByRuntime;

        // One chunk per upper half: every exponent, sign and upper mantissa, with the chosen lower halves.
        Parallel.For(0, 1 << 16, () => (new float[lowHalves.Length], new ushort[lowHalves.Length]), (high, _, buffers) =>
        {
            (float[] source, ushort[] narrowed) = buffers;
            for (int i = 0; i < lowHalves.Length; i++)
            {
                source[i] = BitConverter.UInt32BitsToSingle(((uint)high << 16) | lowHalves[i]);
            }

            PackedElements.Narrow(engine, type, source, narrowed);
            for (int i = 0; i < lowHalves.Length; i++)
            {
                uint bits = BitConverter.SingleToUInt32Bits(source[i]);
                if (narrowed[i] != expected(bits))
                {
                    Assert.Fail($"{path} {type}: 0x{bits:X8} narrowed to 0x{narrowed[i]:X4}, expected 0x{expected(bits):X4}.");
                }
            }

            return buffers;
        }, _ => { });
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void EveryLengthConvertsWithinItsSpans(RopePath path, PackedType type)
    {
        RopeEngine engine = RopeEngine.Get(path);
        var random = new Random(31);
        const int Guard = 40;
        for (int length = 0; length <= 100; length++)
        {
            float[] values = TestData.Activations(random, length);
            var narrowed = new ushort[length + 2 * Guard];
            Array.Fill(narrowed, PackedElements.Canary(type));
            PackedElements.Narrow(engine, type, values, narrowed.AsSpan(Guard, length));
            Assert.Equal(PackedElements.Round(type, values), narrowed.AsSpan(Guard, length).ToArray());

            var widened = new float[length + 2 * Guard];
            Array.Fill(widened, StridedTensor.Canary);
            PackedElements.Widen(engine, type, narrowed.AsSpan(Guard, length), widened.AsSpan(Guard, length));
            Assert.Equal(PackedElements.Widen(type, narrowed.AsSpan(Guard, length).ToArray()), widened.AsSpan(Guard, length).ToArray());

            foreach (int i in Enumerable.Range(0, Guard).SelectMany(g => new[] { g, Guard + length + g }))
            {
                Assert.True(narrowed[i] == PackedElements.Canary(type), $"{path} {type} length {length}: narrowing wrote element {i - Guard}.");
                Assert.True(BitConverter.SingleToUInt32Bits(widened[i]) == BitConverter.SingleToUInt32Bits(StridedTensor.Canary),
                    $"{path} {type} length {length}: widening wrote element {i - Guard}.");
            }
        }
    }

    [Fact]
    public void ScalarOperatorsAgreeWithTheReferenceRounding()
    {
        var random = new Random(77);
        foreach (ushort low in SampledLowHalves())
        {
            for (int trial = 0; trial < 64; trial++)
            {
                uint bits = ((uint)random.Next(1 << 16) << 16) | low;
                float value = BitConverter.UInt32BitsToSingle(bits);
                Assert.Equal(RoundToBFloat16ByDefinition(bits), ((BFloat16)value).Bits);
                if (!float.IsNaN(value))
                {
                    Assert.Equal(PackedElements.Round(PackedType.BFloat16, value), ((BFloat16)value).Bits);
                }
            }
        }
    }

    [Fact]
    public void DoublesRoundOnceToBFloat16()
    {
        var random = new Random(78);
        for (int trial = 0; trial < 200_000; trial++)
        {
            // Random magnitudes over the whole range, often just beside a midpoint, where rounding through float32 would fail.
            double value = Math.ScaleB(1 + random.NextDouble(), random.Next(-140, 130)) * (random.Next(2) == 0 ? 1 : -1);
            if (trial % 2 == 0)
            {
                double midpoint = (float)(BFloat16)value + PackedElements.Ulp(PackedType.BFloat16, Math.Abs(value)) / 2 * Math.Sign(value);
                value = random.Next(3) switch { 0 => midpoint, 1 => Math.BitIncrement(midpoint), _ => Math.BitDecrement(midpoint) };
            }

            Assert.Equal(PackedElements.Round(PackedType.BFloat16, value), ((BFloat16)value).Bits);
        }

        Assert.Equal(0x7F80, ((BFloat16)1e300).Bits);
        Assert.Equal(0x8000, ((BFloat16)(-1e-300)).Bits);
        Assert.True(BFloat16.IsNaN((BFloat16)double.NaN));
    }

    [Fact]
    public void BadSpansAreRejected()
    {
        RopeEngine engine = RopeEngine.Default;
        var floats = new float[8];
        var halves = new Half[8];
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => engine.ConvertToHalf(floats, halves.AsSpan(0, 7))).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => engine.ConvertToSingle(halves, floats.AsSpan(0, 7))).ParamName);

        // The same memory seen as both types: converting in place would read elements it has already overwritten.
        var shared = new float[8];
        ArgumentException overlap = Assert.Throws<ArgumentException>(() =>
            engine.ConvertToBFloat16(shared, MemoryMarshal.Cast<float, BFloat16>(shared.AsSpan())));
        Assert.Equal("destination", overlap.ParamName);
    }

    /// <summary>Lower halves that exercise every rounding decision of both types: ties, just above and below, and a spread of others.</summary>
    private static ushort[] SampledLowHalves()
    {
        ushort[] edges = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xE000, 0xF000, 0xF001, 0xFFFF];
        var random = new Random(1234);
        return [.. edges, .. Enumerable.Range(0, 48).Select(_ => (ushort)random.Next(1 << 16))];
    }

    /// <summary>Round to nearest even on the bit pattern, as the definition reads: keep the upper half, round up past the midpoint or on a tie to odd.</summary>
    private static ushort RoundToBFloat16ByDefinition(uint bits)
    {
        uint kept = bits >> 16, dropped = bits & 0xFFFF;
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)(kept | 0x0040);
        }

        return (ushort)(dropped > 0x8000 || (dropped == 0x8000 && (kept & 1) == 1) ? kept + 1 : kept);
    }

    private static ushort RoundToHalfByRuntime(uint bits) => BitConverter.HalfToUInt16Bits((Half)BitConverter.UInt32BitsToSingle(bits));
}
