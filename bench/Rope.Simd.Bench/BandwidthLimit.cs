using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Rope.Simd.Bench;

/// <summary>
/// The floor for in-place RoPE: a widest-vector streaming read-modify-write (x = x·a + b) over the same buffer.
/// RoPE reads and writes every element once, so no RoPE can beat this loop on the same bytes.
/// </summary>
public static class BandwidthLimit
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ReadModifyWrite(Span<float> values)
    {
        ref float start = ref values[0];
        nuint length = (nuint)values.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(0.999f);
            var b = Vector512.Create(1e-3f);
            for (; i + (nuint)Vector512<float>.Count <= length; i += (nuint)Vector512<float>.Count)
            {
                Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(ref start, i), a, b).StoreUnsafe(ref start, i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(0.999f);
            var b = Vector256.Create(1e-3f);
            for (; i + (nuint)Vector256<float>.Count <= length; i += (nuint)Vector256<float>.Count)
            {
                Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(ref start, i), a, b).StoreUnsafe(ref start, i);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var a = Vector128.Create(0.999f);
            var b = Vector128.Create(1e-3f);
            for (; i + (nuint)Vector128<float>.Count <= length; i += (nuint)Vector128<float>.Count)
            {
                Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(ref start, i), a, b).StoreUnsafe(ref start, i);
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref start, i) = Unsafe.Add(ref start, i) * 0.999f + 1e-3f;
        }
    }

    /// <summary>
    /// The same loop for 16-bit elements: x ^= 0x00010001 flips the lowest mantissa bit of both 16-bit halves of each
    /// lane, so the buffer can be shared with 16-bit rotations (a float multiply-add would leave subnormal and NaN
    /// patterns in the halves, and some CPUs slow down many times on those).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ReadModifyWriteBits(Span<float> values)
    {
        Span<uint> lanes = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(values);
        ref uint start = ref lanes[0];
        nuint length = (nuint)lanes.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var flip = Vector512.Create(0x0001_0001u);
            for (; i + (nuint)Vector512<uint>.Count <= length; i += (nuint)Vector512<uint>.Count)
            {
                (Vector512.LoadUnsafe(ref start, i) ^ flip).StoreUnsafe(ref start, i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var flip = Vector256.Create(0x0001_0001u);
            for (; i + (nuint)Vector256<uint>.Count <= length; i += (nuint)Vector256<uint>.Count)
            {
                (Vector256.LoadUnsafe(ref start, i) ^ flip).StoreUnsafe(ref start, i);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var flip = Vector128.Create(0x0001_0001u);
            for (; i + (nuint)Vector128<uint>.Count <= length; i += (nuint)Vector128<uint>.Count)
            {
                (Vector128.LoadUnsafe(ref start, i) ^ flip).StoreUnsafe(ref start, i);
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref start, i) ^= 0x0001_0001u;
        }
    }

    /// <summary>
    /// The same loop on <paramref name="threads"/> threads, each streaming its contiguous share of the buffer
    /// <paramref name="passes"/> times before they join: the start-up of the threads is spread over the passes, so this is
    /// what the threads can stream, not what one hand-off per pass costs.
    /// </summary>
    public static void ReadModifyWriteOnThreads(AlignedBuffer buffer, int threads, int passes) =>
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
        {
            int start = (int)((long)buffer.Length * part / threads), end = (int)((long)buffer.Length * (part + 1) / threads);
            for (int pass = 0; pass < passes; pass++)
            {
                ReadModifyWrite(buffer.Span[start..end]);
            }
        });
}
