namespace Rope.Simd.Tests;

/// <summary>Bytes a call allocates on the calling thread once warm.</summary>
public static class Allocations
{
    /// <summary>
    /// The fewest bytes <paramref name="work"/> allocates on this thread over a few runs after a warm-up. The runtime
    /// itself occasionally allocates on the calling thread (tiered compilation installing a method's optimized code
    /// mid-run), once; an allocation the library makes shows in every run.
    /// </summary>
    public static long OfSteadyState(Action work)
    {
        work();
        long fewest = long.MaxValue;
        for (int run = 0; run < 3 && fewest > 0; run++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            work();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return fewest;
    }
}
