using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Rope.Simd.Validation;

/// <summary>
/// Argument checks shared by the public API; every failure names the parameter and what was expected. The one idiom
/// of the library's checks: <c>if (bad) ThrowX(...)</c>, the test inline in the caller and the throw out of line
/// (formatting only on failure), so a decode call's validation costs a few compares.
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
            ThrowNotRotaryDim(name, value);
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

    /// <summary>Throws unless <paramref name="value"/> ≥ <paramref name="minimum"/>, with the runtime's message for this (as <c>ThrowIfLessThan</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AtLeast(int value, int minimum, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value < minimum)
        {
            ThrowLess(name, value, minimum);
        }
    }

    /// <summary>Throws unless <typeparamref name="TElement"/> is an element type of activations and caches; the test folds away for each instantiation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ElementType<TElement>()
        where TElement : unmanaged
    {
        if (typeof(TElement) != typeof(float) && typeof(TElement) != typeof(BFloat16) && typeof(TElement) != typeof(Half))
        {
            ThrowElementType<TElement>();
        }
    }

    /// <summary>Throws unless a span of <paramref name="actual"/> elements holds <paramref name="required"/>; formats only on failure.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Length(int actual, long required, string? name)
    {
        if (actual < required)
        {
            ThrowTooShort(actual, required, name);
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

    /// <summary>Throws an <see cref="ArgumentException"/> for <paramref name="name"/>.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowInvalid(string message, string? name) => throw ArgumentErrors.Invalid(message, name);

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> for <paramref name="name"/> holding <paramref name="value"/>.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowOutOfRange(string? name, object? value, string message) => throw ArgumentErrors.OutOfRange(name, value, message);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNotRotaryDim(string? name, int value) =>
        throw ArgumentErrors.OutOfRange(name, value, $"Must be positive, even (elements come in rotated pairs) and at most {RopeFrequencies.MaxRotaryDim}.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowLess(string? name, int value, int minimum) =>
        throw ArgumentErrors.OutOfRange(name, value, $"{name} ('{value}') must be greater than or equal to '{minimum}'.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowElementType<TElement>() =>
        throw new NotSupportedException($"Activations of {typeof(TElement).Name} are not supported: use float, BFloat16 or Half.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooShort(int actual, long required, string? name) =>
        throw ArgumentErrors.Invalid($"The span holds {actual} elements but at least {required} are needed.", name);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooShort(int actual, RopeShape shape, string? name) =>
        throw ArgumentErrors.Invalid(
            $"The span holds {actual} elements but {shape.Tokens} tokens × {shape.Heads} heads of {shape.HeadDim} " +
            $"(token stride {shape.TokenStride}, head stride {shape.HeadStride}) need at least {shape.RequiredLength}.", name);
}
