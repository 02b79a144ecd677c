using System.Runtime.Intrinsics;
using Rope.Simd.Kernels.Elements;
using Rope.Simd.Kernels.Isa;

namespace Rope.Simd.Tests;

/// <summary>
/// The float16 codec's fast conversions, which the rotation kernels use wherever a block's values lie in
/// [2^-14, 2^16): on every path they must give the runtime's <c>(float)</c> and <c>(Half)</c> bits wherever
/// the range check (<c>RangeKey</c>, <c>InFastRange</c>) lets them be used, and that range check must hold for binary16's normal numbers (else the fast
/// path would never run). Every binary16 pattern is widened; every float32 pattern is narrowed on every path in the
/// exhaustive tier (<see cref="TestTier"/>; a sampled sweep in the default tier).
/// </summary>
public class FastHalfCodecTests
{
    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void FastWideningIsUsedExactlyWhereItIsExact(RopePath path) => OnPath<Widening>(path, exhaustive: true);

    [Theory]
    [MemberData(nameof(Paths.Supported), MemberType = typeof(Paths))]
    public void FastNarrowingRoundsLikeTheRuntimeInItsRange(RopePath path) =>
        OnPath<Narrowing>(path, exhaustive: TestTier.Exhaustive);

    private static void OnPath<TCheck>(RopePath path, bool exhaustive)
        where TCheck : ICodecCheck
    {
        switch (path)
        {
            case RopePath.Vector512:
                TCheck.Run<Vector512Ops, Vector512<float>>(exhaustive);
                break;
            case RopePath.Vector256:
                TCheck.Run<Vector256Ops, Vector256<float>>(exhaustive);
                break;
            case RopePath.Vector128:
                TCheck.Run<Vector128Ops, Vector128<float>>(exhaustive);
                break;
            default:
                TCheck.Run<ScalarOps, LanePair>(exhaustive);
                break;
        }
    }

    private interface ICodecCheck
    {
        static abstract void Run<TOps, TVector>(bool exhaustive)
            where TOps : IVectorOps<TVector>
            where TVector : struct;
    }

    /// <summary>Each pattern in both halves of every lane: if the widened register is in range, its bits are the runtime's.</summary>
    private readonly struct Widening : ICodecCheck
    {
        public static void Run<TOps, TVector>(bool exhaustive)
            where TOps : IVectorOps<TVector>
            where TVector : struct
        {
            for (int pattern = 0; pattern < 1 << 16; pattern++)
            {
                TVector packed = TOps.Broadcast((uint)(pattern | pattern << 16));
                HalfCodec.WidenFast<TOps, TVector>(packed, out TVector low, out TVector high);
                bool inRange = HalfCodec.InFastRange<TOps, TVector>(HalfCodec.RangeKey<TOps, TVector>(low, high));
                int exponent = pattern >> 10 & 0x1F;
                Assert.True(inRange == exponent is > 0 and < 31, $"0x{pattern:X4}: in range {inRange}, exponent {exponent}");
                if (inRange)
                {
                    uint expected = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf((ushort)pattern));
                    Assert.Equal(expected, FirstLane(low));
                    Assert.Equal(expected, FirstLane(high));
                }
            }
        }
    }

    /// <summary>
    /// Float32 patterns lane by lane: every lane whose magnitude is in [2^-14, 2^16) narrows to the runtime's bits; the
    /// range check itself is tested on broadcast registers around both ends of the range and on every exponent.
    /// </summary>
    private readonly struct Narrowing : ICodecCheck
    {
        public static void Run<TOps, TVector>(bool exhaustive)
            where TOps : IVectorOps<TVector>
            where TVector : struct
        {
            uint[] edges = [0x3880_0000, 0x4780_0000, 0x7F80_0000, 0x7FC0_0000, 0];
            foreach (uint edge in edges)
            {
                for (long bits = (long)edge - 4096; bits <= edge + 4096; bits++)
                {
                    CheckRange<TOps, TVector>((uint)bits);
                    CheckRange<TOps, TVector>((uint)bits | 0x8000_0000);
                }
            }

            for (uint exponent = 0; exponent < 256; exponent++)
            {
                CheckRange<TOps, TVector>(exponent << 23 | 0x12345);
            }

            ushort[] lowHalves = exhaustive ? [.. Enumerable.Range(0, 1 << 16).Select(i => (ushort)i)] : SampledLowHalves();
            Parallel.For(0, 1 << 16, high =>
            {
                int count = TOps.Count;
                Span<float> lanes = stackalloc float[count];
                Span<float> narrowed = stackalloc float[count];
                for (int start = 0; start < lowHalves.Length; start += count)
                {
                    for (int lane = 0; lane < count; lane++)
                    {
                        lanes[lane] = BitConverter.UInt32BitsToSingle((uint)high << 16 | lowHalves[Math.Min(start + lane, lowHalves.Length - 1)]);
                    }

                    TVector values = TOps.Load(ref lanes[0]);
                    TOps.Store(HalfCodec.NarrowFast<TOps, TVector>(values, values), ref narrowed[0]);
                    for (int lane = 0; lane < count; lane++)
                    {
                        float value = lanes[lane];
                        uint magnitude = BitConverter.SingleToUInt32Bits(value) & 0x7FFF_FFFF;
                        if (magnitude is >= 0x3880_0000 and < 0x4780_0000)
                        {
                            uint expected = BitConverter.HalfToUInt16Bits((Half)value);
                            uint actual = BitConverter.SingleToUInt32Bits(narrowed[lane]);
                            if (actual != (expected | expected << 16))
                            {
                                Assert.Fail($"0x{BitConverter.SingleToUInt32Bits(value):X8} narrowed to 0x{actual:X8}, expected 0x{expected:X4} in both halves.");
                            }
                        }
                    }
                }
            });
        }

        private static void CheckRange<TOps, TVector>(uint bits)
            where TOps : IVectorOps<TVector>
            where TVector : struct
        {
            TVector value = TOps.Broadcast(bits);
            uint magnitude = bits & 0x7FFF_FFFF;
            bool expected = magnitude is >= 0x3880_0000 and < 0x4780_0000;
            Assert.True(HalfCodec.InFastRange<TOps, TVector>(HalfCodec.RangeKey<TOps, TVector>(value, value)) == expected, $"0x{bits:X8}: in range should be {expected}");
        }
    }

    private static ushort[] SampledLowHalves()
    {
        ushort[] edges = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xE000, 0xF000, 0xF001, 0xFFFF];
        var random = new Random(4321);
        return [.. edges, .. Enumerable.Range(0, 48).Select(_ => (ushort)random.Next(1 << 16))];
    }

    private static uint FirstLane<TVector>(TVector value)
        where TVector : struct => System.Runtime.CompilerServices.Unsafe.As<TVector, uint>(ref value);
}
