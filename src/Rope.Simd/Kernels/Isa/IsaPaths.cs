using System.Runtime.Intrinsics;
using Rope.Simd.Kernels.Elements;

namespace Rope.Simd.Kernels.Isa;

/// <summary>Work to run on one instruction set, given as <see cref="IVectorOps{TVector}"/>.</summary>
internal interface IIsaWork
{
    void Run<TOps, TVector>()
        where TOps : IVectorOps<TVector>
        where TVector : struct;
}

/// <summary>
/// The one place a <see cref="RopePath"/> becomes its instruction set: a new ISA is one ops struct, one enum value and
/// one line here.
/// </summary>
internal static class IsaPaths
{
    /// <summary>Every path, widest first.</summary>
    public static ReadOnlySpan<RopePath> All => [RopePath.Vector512, RopePath.Vector256, RopePath.Vector128, RopePath.Scalar];

    /// <summary>Whether this process runs <paramref name="path"/>, and whether its operations are hardware vectors.</summary>
    public static (bool Supported, bool Accelerated) Availability(RopePath path)
    {
        var probe = new AvailabilityProbe();
        Run(path, ref probe);
        return (probe.Supported, probe.Accelerated);
    }

    /// <summary>Runs <paramref name="work"/> with the operations of <paramref name="path"/>.</summary>
    /// <remarks>Inlined, so the work's fields stay where its caller has them (a decode call would pay for copies).</remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static void Run<TWork>(RopePath path, scoped ref TWork work)
        where TWork : IIsaWork, allows ref struct
    {
        switch (path)
        {
            case RopePath.Vector512:
                work.Run<Vector512Ops, Vector512<float>>();
                break;
            case RopePath.Vector256:
                work.Run<Vector256Ops, Vector256<float>>();
                break;
            case RopePath.Vector128:
                work.Run<Vector128Ops, Vector128<float>>();
                break;
            case RopePath.Scalar:
                work.Run<ScalarOps, LanePair>();
                break;
            default:
                throw new NotSupportedException($"Path {path} has no instruction set.");
        }
    }

    private struct AvailabilityProbe : IIsaWork
    {
        public bool Supported, Accelerated;

        public void Run<TOps, TVector>()
            where TOps : IVectorOps<TVector>
            where TVector : struct
        {
            Supported = TOps.IsSupported;
            Accelerated = TOps.IsAccelerated;
        }
    }
}
