using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>The <see cref="BFloat16"/> value type: storage, constants, special values and IEEE comparisons.</summary>
public class BFloat16Tests
{
    [Fact]
    public void IsTwoBytesAndReinterpretsRawUShortBuffers()
    {
        Assert.Equal(2, Unsafe.SizeOf<BFloat16>());
        ushort[] raw = [0x3F80, 0xC000, 0x7F80, 0x0001];
        Span<BFloat16> values = MemoryMarshal.Cast<ushort, BFloat16>(raw.AsSpan());
        Assert.Equal([1f, -2f, float.PositiveInfinity, MathF.Pow(2, -133)], values.ToArray().Select(v => (float)v));
        values[0] = (BFloat16)0.5f;
        Assert.Equal(0x3F00, raw[0]);
    }

    [Fact]
    public void ConstantsHaveTheirDocumentedValues()
    {
        Assert.Equal(0f, (float)BFloat16.Zero);
        Assert.Equal(1f, (float)BFloat16.One);
        Assert.Equal(255f * MathF.Pow(2, 120), (float)BFloat16.MaxValue);
        Assert.Equal(-(float)BFloat16.MaxValue, (float)BFloat16.MinValue);
        Assert.Equal(MathF.Pow(2, -133), (float)BFloat16.Epsilon);
        Assert.Equal(float.PositiveInfinity, (float)BFloat16.PositiveInfinity);
        Assert.Equal(float.NegativeInfinity, (float)BFloat16.NegativeInfinity);
        Assert.True(BFloat16.IsNaN(BFloat16.NaN) && !BFloat16.IsFinite(BFloat16.NaN));
        Assert.True(BFloat16.IsInfinity(BFloat16.NegativeInfinity) && !BFloat16.IsNaN(BFloat16.NegativeInfinity));
        Assert.True(BFloat16.IsFinite(BFloat16.MaxValue) && BFloat16.IsFinite(BFloat16.Epsilon));
    }

    [Fact]
    public void NarrowingKeepsSignedZerosSubnormalsNaNsAndOverflowsToInfinity()
    {
        Assert.Equal(0x8000, ((BFloat16)(-0f)).Bits);
        Assert.Equal(0x0001, ((BFloat16)MathF.Pow(2, -133)).Bits);
        Assert.Equal(0x0000, ((BFloat16)MathF.Pow(2, -134)).Bits); // a tie, to even (zero)
        Assert.Equal(0x0002, ((BFloat16)(3 * MathF.Pow(2, -134))).Bits); // a tie, to even (two units)
        Assert.Equal(0x7F80, ((BFloat16)float.MaxValue).Bits);
        Assert.Equal(0x7F7F, ((BFloat16)BitConverter.UInt32BitsToSingle(0x7F7F_7FFF)).Bits);
        Assert.Equal(0xFF80, ((BFloat16)float.NegativeInfinity).Bits);
        // A signaling NaN whose payload lies only in the dropped bits stays NaN (quiet), sign kept.
        Assert.Equal(0xFFC0, ((BFloat16)BitConverter.UInt32BitsToSingle(0xFF80_0001)).Bits);
        Assert.Equal(0x7FFF, ((BFloat16)BitConverter.UInt32BitsToSingle(0x7FFF_FFFF)).Bits);
    }

    [Fact]
    public void ComparisonsFollowIeeeAndEqualsFollowsFloat()
    {
        BFloat16 one = BFloat16.One, alsoOne = (BFloat16)1f, two = (BFloat16)2f, nan = BFloat16.NaN, alsoNaN = BFloat16.NaN;
        Assert.True(one < two && two > one && one <= alsoOne && two >= one && one != two && one == alsoOne);
        Assert.False(nan == alsoNaN);
        Assert.True(nan.Equals(nan));
        Assert.True((BFloat16)0f == (BFloat16)(-0f));
        Assert.False(nan < one || nan > one || nan <= one || nan >= one);
        Assert.Equal(-1, nan.CompareTo(one));
        Assert.Equal(1, one.CompareTo(null));
        Assert.Equal(one.GetHashCode(), ((BFloat16)1f).GetHashCode());
        Assert.Throws<ArgumentException>(() => one.CompareTo("one"));
    }

    [Fact]
    public void FormatsAsItsFloatValue()
    {
        Assert.Equal("1.5", ((BFloat16)1.5f).ToString());
        Assert.Equal("3.140625", ((BFloat16)3.14159f).ToString());
        var comma = new NumberFormatInfo { NumberDecimalSeparator = "," };
        Assert.Equal("1,5", ((BFloat16)1.5f).ToString(null, comma));
        Assert.Equal("3.14", ((BFloat16)3.14159f).ToString("F2", CultureInfo.InvariantCulture));
    }
}
