using System.Buffers;
using System.Numerics.Tensors;
using Rope.Simd;
using Rope.Simd.Tensors;

namespace Rope.Simd.Tests.Tensors;

/// <summary>The TensorSpan satellite: views of every layout rotate exactly as the equivalent RopeShape over the same memory.</summary>
public class TensorSpanTests
{
    private const int Batch = 2, Tokens = 5, Heads = 3, HeadDim = 16;

    private static readonly RopeTable Table = RopeTable.Create(rotaryDim: 12, positionCount: 64);

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void DenseAndPermutedViewsRotateAsTheirShapes(RopePath path, RopeLayout layout)
    {
        RopeEngine engine = RopeEngine.Get(path);
        float[] data = TestData.Activations(new Random(31), Batch * Tokens * Heads * HeadDim), expected = [.. data];
        int[] positions = [.. Enumerable.Range(0, Batch * Tokens).Select(i => (i * 7) % 64)];
        engine.Apply(Table, expected, RopeShape.Bshd(Batch, Tokens, Heads, HeadDim), positions, layout);

        // A dense [batch, tokens, heads, headDim] view.
        float[] dense = [.. data];
        engine.Apply(Table, dense.AsTensorSpan([Batch, Tokens, Heads, HeadDim]), RopeTensorLayout.Bshd, positions, layout);
        Assert.Equal(expected, dense);

        // The same memory seen as [batch, heads, tokens, headDim] through a permuted view (strides, no copy).
        float[] permuted = [.. data];
        Tensor<float> view = Tensor.PermuteDimensions(Tensor.Create(permuted, [Batch, Tokens, Heads, HeadDim]), [0, 2, 1, 3]);
        engine.Apply(Table, view.AsTensorSpan(), RopeTensorLayout.Bhsd, positions, layout);
        Assert.Equal(expected, permuted);

        // Out of place, and queries with keys in one call.
        float[] output = new float[data.Length];
        engine.Apply(Table, data.AsReadOnlyTensorSpan([Batch, Tokens, Heads, HeadDim]), output.AsTensorSpan([Batch, Tokens, Heads, HeadDim]),
            RopeTensorLayout.Bshd, positions, layout);
        Assert.Equal(expected, output);

        float[] queries = [.. data], keys = [.. data];
        engine.Apply(Table, queries.AsTensorSpan([Batch, Tokens, Heads, HeadDim]), keys.AsTensorSpan([Batch, Tokens, Heads, HeadDim]),
            RopeTensorLayout.Bshd, positions, layout);
        Assert.Equal(expected, queries);
        Assert.Equal(expected, keys);
    }

    [Fact]
    public void RankThreeViewsAndSlicesStartWhereTheViewStarts()
    {
        // Tokens 2..4 of a [tokens, heads, headDim] tensor, as a slice of it.
        float[] data = TestData.Activations(new Random(37), Tokens * Heads * HeadDim), expected = [.. data], viaSlice = [.. data];
        var shape = new RopeShape(3, Heads, HeadDim);
        RopeEngine.Default.Apply(Table, expected.AsSpan(2 * Heads * HeadDim, shape.RequiredLength), shape, 10, RopeLayout.Interleaved);

        TensorSpan<float> whole = viaSlice.AsTensorSpan([Tokens, Heads, HeadDim]);
        TensorSpan<float> slice = whole.Slice([new NRange(2, 5), NRange.All, NRange.All]);
        RopeEngine.Default.Apply(Table, slice, RopeTensorLayout.Bshd, 10, RopeLayout.Interleaved);
        Assert.Equal(expected, viaSlice);

        Assert.Equal(new RopeShape(3, Heads, HeadDim, Heads * HeadDim, HeadDim), RopeTensorSpans.ToRopeShape<float>(slice, RopeTensorLayout.Bshd));
    }

    [Fact]
    public void ViewsThatCannotBeRotatedAreRefusedNamingTheTensor()
    {
        float[] data = new float[Batch * Tokens * Heads * HeadDim];
        Assert.Contains("rank 2", Assert.Throws<ArgumentException>(
            () => RopeEngine.Default.Apply(Table, data.AsTensorSpan([Tokens * Heads, HeadDim]), RopeTensorLayout.Bshd, 0, RopeLayout.HalfSplit)).Message);

        // The head dimension permuted away from the last place: heads are not contiguous.
        Tensor<float> headNotLast = Tensor.PermuteDimensions(Tensor.Create(data, [Tokens, Heads, HeadDim]), [0, 2, 1]);
        var notContiguous = Assert.Throws<ArgumentException>(
            () => RopeEngine.Default.Apply(Table, headNotLast.AsTensorSpan(), RopeTensorLayout.Bshd, 0, RopeLayout.HalfSplit));
        Assert.Equal("values", notContiguous.ParamName);
        Assert.Contains("contiguous", notContiguous.Message);

        // A broadcast token dimension (stride 0) would rotate one head several times.
        Assert.Contains("broadcast", Assert.Throws<ArgumentException>(() => RopeEngine.Default.Apply(
            Table, data.AsTensorSpan([Tokens, Heads, HeadDim], [0, HeadDim, 1]), RopeTensorLayout.Bshd, 0, RopeLayout.HalfSplit)).Message);

        float[] output = new float[data.Length];
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RopeEngine.Default.Apply(Table,
            data.AsReadOnlyTensorSpan([Tokens, Heads, HeadDim]), output.AsTensorSpan([Heads, Tokens, HeadDim]), RopeTensorLayout.Bshd, 0, RopeLayout.HalfSplit)).ParamName);
    }
}
