using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Rope.Simd.Validation;

/// <summary>
/// Where two spans lie relative to each other, in bytes, whatever their element types: the one test of shared memory
/// every check uses. Taken at one instant: spans over two objects never overlap wherever the collector moves them,
/// and within one object the distance is fixed.
/// </summary>
internal static class SharedMemory
{
    /// <summary>Whether the two spans share any byte (empty spans share none).</summary>
    public static bool Overlap<TFirst, TSecond>(ReadOnlySpan<TFirst> first, ReadOnlySpan<TSecond> second)
        where TFirst : unmanaged
        where TSecond : unmanaged =>
        Overlap(ByteRange.Of(first), ByteRange.Of(second));

    /// <summary>Whether the two byte ranges share any byte (empty ranges share none).</summary>
    public static bool Overlap(ByteRange first, ByteRange second)
    {
        if (first.Length == 0 || second.Length == 0)
        {
            return false;
        }

        long start = Unsafe.ByteOffset(ref first.Start, ref second.Start);
        return start < first.Length && start + second.Length > 0;
    }

    /// <summary>Whether the two spans start at the same element.</summary>
    public static bool SameStart<TElement>(ReadOnlySpan<TElement> first, ReadOnlySpan<TElement> second) =>
        Unsafe.AreSame(ref MemoryMarshal.GetReference(first), ref MemoryMarshal.GetReference(second));

    /// <summary>Bytes from the start of <paramref name="first"/> to the start of <paramref name="second"/>.</summary>
    public static long ByteOffset<TFirst, TSecond>(ReadOnlySpan<TFirst> first, ReadOnlySpan<TSecond> second) =>
        Unsafe.ByteOffset(ref ByteRange.StartOf(first), ref ByteRange.StartOf(second));
}

/// <summary>The bytes of a span, counted in 64 bits (a span of 2^31 - 1 elements of several bytes has more than a byte span holds).</summary>
internal readonly ref struct ByteRange
{
    private readonly ref byte start;

    private ByteRange(ref byte start, long length)
    {
        this.start = ref start;
        Length = length;
    }

    /// <summary>The first byte.</summary>
    public ref byte Start => ref start;

    /// <summary>Bytes in the range.</summary>
    public long Length { get; }

    /// <summary>The bytes of a span.</summary>
    public static ByteRange Of<TElement>(ReadOnlySpan<TElement> span)
        where TElement : unmanaged =>
        new(ref StartOf(span), (long)span.Length * Unsafe.SizeOf<TElement>());

    /// <summary>A span's first byte (where it would be, for an empty span).</summary>
    public static ref byte StartOf<TElement>(ReadOnlySpan<TElement> span) => ref Unsafe.As<TElement, byte>(ref MemoryMarshal.GetReference(span));
}
