using Rope.Simd;

namespace Rope.Simd.Tests.Matrix;

/// <summary>Where a call's cos/sin rows come from: the library's own, or the caller's in each format and value type.</summary>
public enum RowSource
{
    Table,
    Computed,
    InterleavedSingle,
    InterleavedBFloat16,
    InterleavedHalf,
    CosThenSinSingle,
    CosThenSinBFloat16,
    CosThenSinHalf,
    SeparateSingle,
    SeparateBFloat16,
    SeparateHalf,
    DuplicatedSingle,
    DuplicatedBFloat16,
    DuplicatedHalf,
}

/// <summary>How a call gives its positions.</summary>
public enum PositionSource
{
    Start,
    Int32,
    Int64,
    SequenceStarts,
    Multimodal,
}

/// <summary>The public calls the matrix makes.</summary>
public enum Operation
{
    Apply,
    ApplyQueriesKeys,
    ApplyOutOfPlace,
    ApplyQueriesKeysOutOfPlace,
    NormWeight,
    NormOnePlusWeight,
    NormUnweighted,
    NormQueriesKeys,
    NormPacked,
    Append,
    AppendPacked,
}

/// <summary>How a tensor's heads lie: one after another, with padding between heads and tokens, or head-major (BHSD).</summary>
public enum TensorLayout
{
    Packed,
    Padded,
    HeadMajor,
}

/// <summary>A KV cache's layout, as an axis.</summary>
public enum CacheLayout
{
    PositionMajor,
    HeadMajor,
    Paged,
}

/// <summary>One operation with, for the append, the cache's element type and layout.</summary>
public readonly record struct MatrixOperation(Operation Kind, ElementKind Cache = ElementKind.Single, CacheLayout CacheLayout = CacheLayout.PositionMajor)
{
    public bool IsAppend => Kind is Operation.Append or Operation.AppendPacked;

    public bool TakesInverse => Kind is Operation.Apply or Operation.ApplyQueriesKeys or Operation.ApplyOutOfPlace or Operation.ApplyQueriesKeysOutOfPlace;

    public bool IsOutOfPlace => Kind is Operation.ApplyOutOfPlace or Operation.ApplyQueriesKeysOutOfPlace;

    public bool HasKeys => Kind is not (Operation.Apply or Operation.ApplyOutOfPlace or Operation.NormWeight or Operation.NormOnePlusWeight or Operation.NormUnweighted);

    public bool IsPacked => Kind is Operation.NormPacked or Operation.AppendPacked;

    public override string ToString() => IsAppend ? $"{Kind} into a {CacheLayout} {Cache} cache" : Kind.ToString();
}

/// <summary>
/// What each combination samples (or, with <c>ROPE_SIMD_MATRIX=exhaustive</c>, runs every value of): batch, tensor
/// layout, inverse rotation, padding between caller rows, a parallel engine, and an out-of-place call given the same
/// memory twice.
/// </summary>
public readonly record struct MatrixVariant(int Batch, TensorLayout TensorLayout, bool Inverse, int RowPadding, bool Parallel, bool SameMemory)
{
    /// <summary>Every variant that changes what <paramref name="operation"/> does with rows from <paramref name="rows"/>.</summary>
    public static IEnumerable<MatrixVariant> All(MatrixOperation operation, RowSource rows)
    {
        foreach (int batch in (int[])[1, 2])
        {
            foreach (TensorLayout layout in operation.IsPacked ? [TensorLayout.Packed] : Enum.GetValues<TensorLayout>())
            {
                foreach (bool inverse in operation.TakesInverse ? [false, true] : (bool[])[false])
                {
                    foreach (int padding in rows is RowSource.Table or RowSource.Computed ? [0] : (int[])[0, 3])
                    {
                        foreach (bool parallel in (bool[])[false, true])
                        {
                            foreach (bool same in operation.IsOutOfPlace ? [false, true] : (bool[])[false])
                            {
                                yield return new MatrixVariant(batch, layout, inverse, padding, parallel, same);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>One variant drawn at random (a parallel engine one time in 32: handing a small call to threads costs far more than the call).</summary>
    public static MatrixVariant Sample(MatrixOperation operation, RowSource rows, Random random)
    {
        MatrixVariant[] all = [.. All(operation, rows).Where(variant => !variant.Parallel)];
        MatrixVariant chosen = all[random.Next(all.Length)];
        return chosen with { Parallel = random.Next(32) == 0 };
    }
}
