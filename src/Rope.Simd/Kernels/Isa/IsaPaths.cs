using System.Runtime.Intrinsics;

namespace Rope.Simd.Kernels;

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
    /// <summary>Runs <paramref name="work"/> with the operations of <paramref name="path"/>.</summary>
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
}
