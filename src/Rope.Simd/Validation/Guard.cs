using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Rope.Simd;

/// <summary>
/// Argument checks shared by the public API; every failure names the parameter and what was expected. The checks
/// inline into the callers; the throws stay out of line, so a decode call's validation costs a few compares.
/// </summary>
internal static class Guard
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PositiveEven(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value <= 0 || (value & 1) != 0)
        {
            ThrowOutOfRange(name, value, "Must be positive and even (elements come in rotated pairs).");
        }
    }

    /// <summary>Throws unless <paramref name="value"/> is a rotary dim: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RotaryDim(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value <= 0 || (value & 1) != 0 || value > RopeFrequencies.MaxRotaryDim)
        {
            ThrowOutOfRange(name, value, $"Must be positive, even (elements come in rotated pairs) and at most {RopeFrequencies.MaxRotaryDim}.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NonNegative(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value < 0)
        {
            ThrowOutOfRange(name, value, "Must not be negative.");
        }
    }

    /// <summary>Throws unless a span of <paramref name="actual"/> elements holds <paramref name="required"/>; formats only on failure.</summary>
    public static void Length(int actual, long required, string? name)
    {
        if (actual < required)
        {
            throw new ArgumentException($"The span holds {actual} elements but at least {required} are needed.", name);
        }
    }

    /// <summary>Throws unless a span of <paramref name="actual"/> elements holds every head of <paramref name="shape"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Length(int actual, RopeShape shape, string? name)
    {
        if (actual < shape.RequiredLength)
        {
            ThrowTooShort(actual, shape, name);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowOutOfRange(string? name, int value, string message) => throw new ArgumentOutOfRangeException(name, value, message);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooShort(int actual, RopeShape shape, string? name) =>
        throw new ArgumentException(
            $"The span holds {actual} elements but {shape.Tokens} tokens × {shape.Heads} heads of {shape.HeadDim} " +
            $"(token stride {shape.TokenStride}, head stride {shape.HeadStride}) need at least {shape.RequiredLength}.", name);
}
