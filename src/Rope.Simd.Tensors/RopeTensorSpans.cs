using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Rope.Simd.Tensors;

/// <summary>
/// Rotation of <see cref="TensorSpan{T}"/> views with <see cref="RopeEngine"/>: the tensor's lengths and strides
/// become a <see cref="RopeShape"/> (<see cref="ToRopeShape{T}(ReadOnlyTensorSpan{T}, RopeTensorLayout)"/>), and the
/// call is the engine's <c>Apply</c> on the memory the view covers, with every check that <c>Apply</c> makes.
/// </summary>
/// <remarks>
/// Rank 3 is one sequence (<c>[tokens, heads, headDim]</c> or <c>[heads, tokens, headDim]</c>), rank 4 adds a leading
/// batch. Any strides are accepted, permuted views included, as long as each head's elements are contiguous (the
/// last stride is 1, or the head dim is 1), no stride is negative or zero where its length is above 1 (broadcast
/// views would rotate one head several times), and heads do not overlap.
/// </remarks>
public static class RopeTensorSpans
{
    /// <summary>The shape of <paramref name="tensor"/>'s heads in the memory its view starts at.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="tensor">A rank-3 or rank-4 view whose last dimension is the head.</param>
    /// <param name="layout">The order of the dimensions before the head.</param>
    /// <exception cref="ArgumentException">The rank, a length or a stride cannot describe heads Rope.Simd rotates.</exception>
    public static RopeShape ToRopeShape<T>(ReadOnlyTensorSpan<T> tensor, RopeTensorLayout layout) => Shape(tensor.Lengths, tensor.Strides, layout, nameof(tensor));

    // RS0026 guards against overloads that differ only by optional parameters; these differ by their tensor
    // parameters, so the optional inverse never makes a call ambiguous.
#pragma warning disable RS0026
    /// <summary>Rotates one tensor in place; see <see cref="RopeEngine.Apply{TElement}(RopeRows, Span{TElement}, RopeShape, RopePositions, RopeLayout, bool)"/>.</summary>
    /// <typeparam name="T"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="engine">The engine (path and threads).</param>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="values">The activations.</param>
    /// <param name="layout">The order of <paramref name="values"/>'s dimensions.</param>
    /// <param name="positions">A start position or one position per token of every sequence (<c>[batch][tokens]</c>).</param>
    /// <param name="pairs">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">The view cannot be rotated, or the rows or positions do not fit it.</exception>
    public static void Apply<T>(this RopeEngine engine, RopeRows rows, TensorSpan<T> values, RopeTensorLayout layout, RopePositions positions,
        RopeLayout pairs, bool inverse = false)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(engine);
        RopeShape shape = Shape(values.Lengths, values.Strides, layout, nameof(values));
        engine.Apply(rows, Memory(values, shape), shape, positions, pairs, inverse);
    }

    /// <summary>Rotates queries and keys in place in one pass (grouped-query attention); both in <paramref name="layout"/>.</summary>
    /// <typeparam name="T"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="engine">The engine (path and threads).</param>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="queries">The queries.</param>
    /// <param name="keys">The keys: the same batch and tokens, their own heads; must not share elements with the queries.</param>
    /// <param name="layout">The order of both tensors' dimensions.</param>
    /// <param name="positions">A start position or one position per token of every sequence.</param>
    /// <param name="pairs">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">A view cannot be rotated, the views do not match, or the rows or positions do not fit them.</exception>
    public static void Apply<T>(this RopeEngine engine, RopeRows rows, TensorSpan<T> queries, TensorSpan<T> keys, RopeTensorLayout layout,
        RopePositions positions, RopeLayout pairs, bool inverse = false)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(engine);
        RopeShape queryShape = Shape(queries.Lengths, queries.Strides, layout, nameof(queries));
        RopeShape keyShape = Shape(keys.Lengths, keys.Strides, layout, nameof(keys));
        engine.Apply(rows, Memory(queries, queryShape), queryShape, Memory(keys, keyShape), keyShape, positions, pairs, inverse);
    }

    /// <summary>Rotates <paramref name="source"/> into <paramref name="destination"/>, views of the same lengths (strides may differ only if both describe the same shape).</summary>
    /// <typeparam name="T"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="engine">The engine (path and threads).</param>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="source">The input.</param>
    /// <param name="destination">The output, with the source's lengths and strides; the same memory (in place) or memory no source head touches.</param>
    /// <param name="layout">The order of both views' dimensions.</param>
    /// <param name="positions">A start position or one position per token of every sequence.</param>
    /// <param name="pairs">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">A view cannot be rotated, the views differ in shape, or the rows or positions do not fit them.</exception>
    public static void Apply<T>(this RopeEngine engine, RopeRows rows, ReadOnlyTensorSpan<T> source, TensorSpan<T> destination, RopeTensorLayout layout,
        RopePositions positions, RopeLayout pairs, bool inverse = false)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(engine);
        RopeShape shape = Shape(source.Lengths, source.Strides, layout, nameof(source));
        if (Shape(destination.Lengths, destination.Strides, layout, nameof(destination)) != shape)
        {
            throw new ArgumentException(
                $"The destination's lengths and strides ({Describe(destination.Lengths, destination.Strides)}) differ from the source's " +
                $"({Describe(source.Lengths, source.Strides)}).", nameof(destination));
        }

        engine.Apply(rows, Memory(source, shape), Memory(destination, shape), shape, positions, pairs, inverse);
    }

#pragma warning restore RS0026

    private static Span<T> Memory<T>(TensorSpan<T> tensor, RopeShape shape) =>
        shape.RequiredLength == 0 ? [] : MemoryMarshal.CreateSpan(ref TensorMarshal.GetReference(tensor), shape.RequiredLength);

    private static ReadOnlySpan<T> Memory<T>(ReadOnlyTensorSpan<T> tensor, RopeShape shape) =>
        shape.RequiredLength == 0 ? [] : MemoryMarshal.CreateReadOnlySpan(in TensorMarshal.GetReference(tensor), shape.RequiredLength);

    private static RopeShape Shape(ReadOnlySpan<nint> lengths, ReadOnlySpan<nint> strides, RopeTensorLayout layout, string name)
    {
        if (lengths.Length is not (3 or 4))
        {
            throw new ArgumentException(
                $"The tensor has rank {lengths.Length}; expected 3 ([tokens, heads, headDim] or [heads, tokens, headDim]) or 4 (with a leading batch).", name);
        }

        if (layout is not (RopeTensorLayout.Bshd or RopeTensorLayout.Bhsd))
        {
            throw new ArgumentOutOfRangeException(nameof(layout), layout, "Unknown tensor layout.");
        }

        int rank = lengths.Length, batchAxis = rank == 4 ? 0 : -1, first = rank - 3;
        int tokenAxis = layout == RopeTensorLayout.Bshd ? first : first + 1, headAxis = layout == RopeTensorLayout.Bshd ? first + 1 : first;
        for (int axis = 0; axis < rank; axis++)
        {
            if (lengths[axis] > int.MaxValue || strides[axis] > int.MaxValue || strides[axis] < 0)
            {
                throw new ArgumentException($"Dimension {axis} has length {lengths[axis]} and stride {strides[axis]}; both must be in [0, 2^31 - 1].", name);
            }

            if (strides[axis] == 0 && lengths[axis] > 1)
            {
                throw new ArgumentException(
                    $"Dimension {axis} is broadcast (stride 0 over {lengths[axis]} elements): its elements share memory, so rotating them would " +
                    "rotate the same element several times. Materialize the tensor first.", name);
            }
        }

        if (lengths[rank - 1] > 1 && strides[rank - 1] != 1)
        {
            throw new ArgumentException(
                $"The head dimension has stride {strides[rank - 1]}; each head's elements must be contiguous (stride 1). A view that permutes the " +
                "head dimension away from the last place cannot be rotated in place; copy it to a contiguous layout first.", name);
        }

        int batch = batchAxis < 0 ? 1 : (int)lengths[batchAxis];
        int batchStride = batchAxis < 0 ? 0 : (int)strides[batchAxis];
        return new RopeShape(batch, (int)lengths[tokenAxis], (int)lengths[headAxis], (int)lengths[rank - 1],
            batch > 1 ? batchStride : 0, (int)strides[tokenAxis], (int)strides[headAxis]);
    }

    private static string Describe(ReadOnlySpan<nint> lengths, ReadOnlySpan<nint> strides) =>
        $"lengths [{string.Join(", ", lengths.ToArray())}], strides [{string.Join(", ", strides.ToArray())}]";
}
