using System.Globalization;
using System.Numerics;

namespace Rope.Simd.Tests;

/// <summary>
/// cos and sin of the exact angle p·ω (ω a double) by integer arithmetic: the product is formed exactly as a
/// BigInteger, reduced modulo π/2 against 300 decimal digits of π, and only the small remainder goes to double
/// trigonometry. Independent of the library's table builder and accurate to far below a float32 ulp.
/// </summary>
public static class ExactTrig
{
    private const int Scale = 512;

    private const string Pi =
        "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798214" +
        "808651328230664709384460955058223172535940812848111745028410270193852110555964462294895493038196442881097566" +
        "5933446128475648233786783165271201909145648566923460348610454326648213393607260249141273";

    private static readonly BigInteger HalfPiScaled = ComputeHalfPiScaled();

    public static (double Cos, double Sin) CosSin(long position, double inverseFrequency)
    {
        long bits = BitConverter.DoubleToInt64Bits(inverseFrequency);
        int exponentField = (int)((bits >> 52) & 0x7FF);
        long mantissa = bits & ((1L << 52) - 1);
        int exponent = exponentField == 0 ? -1074 : exponentField - 1075;
        if (exponentField != 0)
        {
            mantissa |= 1L << 52;
        }

        // angle·2^Scale as an exact integer: position · mantissa · 2^(exponent + Scale).
        BigInteger angle = new BigInteger(position) * mantissa << (exponent + Scale);
        BigInteger quadrant = BigInteger.Divide(angle + HalfPiScaled / 2, HalfPiScaled);
        BigInteger remainder = angle - quadrant * HalfPiScaled;
        double reduced = (double)(remainder >> (Scale - 100)) * Math.Pow(2, -100);
        double c = Math.Cos(reduced), s = Math.Sin(reduced);
        return (int)(quadrant % 4) switch
        {
            0 => (c, s),
            1 => (-s, c),
            2 => (-c, -s),
            _ => (s, -c),
        };
    }

    /// <summary>Error of <paramref name="value"/> in float32 ulps of the exact <paramref name="exact"/>.</summary>
    public static double UlpError(float value, double exact)
    {
        double ulp = exact == 0 ? float.Epsilon : Math.Max(Math.Pow(2, Math.ILogB(exact) - 23), float.Epsilon);
        return Math.Abs(value - exact) / ulp;
    }

    private static BigInteger ComputeHalfPiScaled()
    {
        string digits = Pi.Replace(".", "", StringComparison.Ordinal);
        BigInteger piTimesPowerOfTen = BigInteger.Parse(digits, CultureInfo.InvariantCulture);
        BigInteger powerOfTen = BigInteger.Pow(10, digits.Length - 1);
        return (piTimesPowerOfTen << (Scale - 1)) / powerOfTen;
    }
}
