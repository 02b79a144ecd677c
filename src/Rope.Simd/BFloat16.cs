using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Rope.Simd;

/// <summary>
/// The bfloat16 floating-point format: the upper 16 bits of an IEEE-754 float32 (1 sign, 8 exponent, 7 mantissa bits),
/// stored in 2 bytes exactly like a raw <see cref="ushort"/> bf16 buffer, so model weights and activations can be
/// reinterpreted in place with <see cref="MemoryMarshal.Cast{TFrom, TTo}(Span{TFrom})"/>.
/// </summary>
/// <remarks>
/// Widening to <see cref="float"/> is exact (every bit pattern, NaN payloads included). Narrowing from
/// <see cref="float"/> or <see cref="double"/> rounds once to nearest, ties to even, with the same range as float32:
/// subnormals are kept, values from the largest finite bfloat16 plus half a unit upward become infinity, signed zeros
/// keep their sign, and NaN stays NaN (sign and upper payload kept, quiet bit set). Comparisons follow IEEE-754 on the
/// widened values; <see cref="Equals(BFloat16)"/> treats NaN as equal to NaN, as <see cref="float.Equals(float)"/> does.
/// For spans, <see cref="RopeEngine.ConvertToBFloat16"/> and <see cref="RopeEngine.ConvertToSingle(ReadOnlySpan{BFloat16}, Span{float})"/>
/// give the same bits, vectorized.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 2)]
[DebuggerDisplay("{ToString(),nq}")]
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>, IComparable, ISpanFormattable
{
    internal const ushort QuietBit = 0x0040;

    private readonly ushort bits;

    private BFloat16(ushort bits) => this.bits = bits;

    /// <summary>+0.</summary>
    public static BFloat16 Zero => default;

    /// <summary>1.</summary>
    public static BFloat16 One => new(0x3F80);

    /// <summary>The largest finite value, (2 − 2^-7)·2^127 ≈ 3.3895e38.</summary>
    public static BFloat16 MaxValue => new(0x7F7F);

    /// <summary>The most negative finite value.</summary>
    public static BFloat16 MinValue => new(0xFF7F);

    /// <summary>The smallest positive (subnormal) value, 2^-133.</summary>
    public static BFloat16 Epsilon => new(0x0001);

    /// <summary>+∞.</summary>
    public static BFloat16 PositiveInfinity => new(0x7F80);

    /// <summary>−∞.</summary>
    public static BFloat16 NegativeInfinity => new(0xFF80);

    /// <summary>A quiet NaN (0x7FC0).</summary>
    public static BFloat16 NaN => new(0x7FC0);

    /// <summary>The 16-bit pattern.</summary>
    public ushort Bits => bits;

    /// <summary>The value with this 16-bit pattern.</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Whether the value is NaN.</summary>
    public static bool IsNaN(BFloat16 value) => (value.bits & 0x7FFF) > 0x7F80;

    /// <summary>Whether the value is +∞ or −∞.</summary>
    public static bool IsInfinity(BFloat16 value) => (value.bits & 0x7FFF) == 0x7F80;

    /// <summary>Whether the value is neither NaN nor infinite.</summary>
    public static bool IsFinite(BFloat16 value) => (value.bits & 0x7F80) != 0x7F80;

    /// <summary>Exact widening: the float32 whose upper 16 bits are this value's bits and whose lower 16 are zero.</summary>
    public static implicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value.bits << 16);

    /// <summary>Rounds to nearest, ties to even; NaN stays a quiet NaN.</summary>
    public static explicit operator BFloat16(float value)
    {
        uint single = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return new((ushort)((single >> 16) | QuietBit));
        }

        uint lowestKeptBit = (single >> 16) & 1;
        return new((ushort)((single + 0x7FFF + lowestKeptBit) >> 16));
    }

    /// <summary>Rounds the double once to nearest, ties to even (not through float32, which could round twice).</summary>
    public static explicit operator BFloat16(double value)
    {
        // Round to float32 with round-to-odd (sticky last bit), then to nearest even: exact because float32 keeps at least
        // two more bits than bfloat16 at every exponent, subnormals included.
        float single = (float)value;
        if (double.IsNaN(value) || (double)single == value)
        {
            return (BFloat16)single;
        }

        uint magnitude = BitConverter.SingleToUInt32Bits(single) & 0x7FFF_FFFF;
        if ((magnitude & 1) == 0)
        {
            magnitude = Math.Abs((double)single) > Math.Abs(value) ? magnitude - 1 : magnitude + 1;
        }

        float odd = BitConverter.UInt32BitsToSingle(magnitude | (BitConverter.SingleToUInt32Bits(single) & 0x8000_0000));
        return (BFloat16)odd;
    }

    /// <summary>IEEE equality: NaN equals nothing, +0 equals −0.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => (float)left == (float)right;

    /// <summary>IEEE inequality.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => (float)left != (float)right;

    /// <summary>IEEE ordering; false if either is NaN.</summary>
    public static bool operator <(BFloat16 left, BFloat16 right) => (float)left < (float)right;

    /// <summary>IEEE ordering; false if either is NaN.</summary>
    public static bool operator >(BFloat16 left, BFloat16 right) => (float)left > (float)right;

    /// <summary>IEEE ordering; false if either is NaN.</summary>
    public static bool operator <=(BFloat16 left, BFloat16 right) => (float)left <= (float)right;

    /// <summary>IEEE ordering; false if either is NaN.</summary>
    public static bool operator >=(BFloat16 left, BFloat16 right) => (float)left >= (float)right;

    /// <summary>Equal values, or both NaN (as <see cref="float.Equals(float)"/>).</summary>
    public bool Equals(BFloat16 other) => ((float)this).Equals((float)other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => ((float)this).GetHashCode();

    /// <summary>Orders as <see cref="float.CompareTo(float)"/>: NaN first, then by value.</summary>
    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);

    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        BFloat16 other => CompareTo(other),
        _ => throw new ArgumentException("The object is not a BFloat16.", nameof(obj)),
    };

    /// <summary>The widened float32 value, formatted with the invariant culture.</summary>
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ((float)this).ToString(format, formatProvider);

    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        ((float)this).TryFormat(destination, out charsWritten, format, provider);
}
