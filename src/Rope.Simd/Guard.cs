using System.Runtime.CompilerServices;

namespace Rope.Simd;

/// <summary>Argument checks shared by the public API; every failure names the parameter and what was expected.</summary>
internal static class Guard
{
    public static void PositiveEven(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value <= 0 || (value & 1) != 0)
        {
            throw new ArgumentOutOfRangeException(name, value, "Must be positive and even (elements come in rotated pairs).");
        }
    }

    public static void NonNegative(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException(name, value, "Must not be negative.");
        }
    }

    public static void Length(int actual, long required, string description, string? name)
    {
        if (actual < required)
        {
            throw new ArgumentException(
                $"Span holds {actual} elements but {description} needs at least {required}.", name);
        }
    }
}
