using Rope.Simd;
using Rope.Simd.Validation;

namespace Rope.Simd.Tests;

/// <summary>The overlap tests of shapes and of query/key pairs agree with marking every element of every head.</summary>
public class HeadOverlapTests
{
    [Fact]
    public void InterleavedHeadsThatDoNotTouchAreAccepted()
    {
        // Heads at 0, 4, 8 and 6, 10, 14.
        var shape = new RopeShape(2, 3, 2, tokenStride: 6, headStride: 4);
        Assert.Equal(16, shape.RequiredLength);
    }

    [Fact]
    public void EverySmallShapeIsAcceptedExactlyWhenNoTwoHeadsShareAnElement()
    {
        int checkedShapes = 0;
        for (int tokens = 1; tokens <= 4; tokens++)
        {
            for (int heads = 1; heads <= 4; heads++)
            {
                foreach (int headDim in new[] { 2, 4 })
                {
                    for (int tokenStride = 0; tokenStride <= 13; tokenStride++)
                    {
                        for (int headStride = 0; headStride <= 13; headStride++)
                        {
                            bool overlap = Marks(tokens, heads, headDim, tokenStride, headStride).Any(count => count > 1);
                            Exception? error = Record.Exception(() => new RopeShape(tokens, heads, headDim, tokenStride, headStride));
                            Assert.True(overlap == error is ArgumentException,
                                $"{tokens} tokens × {heads} heads of {headDim}, strides {tokenStride}/{headStride}: overlap {overlap}, {error?.Message ?? "accepted"}");
                            checkedShapes++;
                        }
                    }
                }
            }
        }

        Assert.Equal(4 * 4 * 2 * 14 * 14, checkedShapes);
    }

    [Fact]
    public void QueryAndKeyOverlapMatchesMarkingEveryElement()
    {
        var random = new Random(12);
        int sharing = 0;
        for (int trial = 0; trial < 20_000; trial++)
        {
            RopeShape first = RandomValidShape(random), second = random.Next(3) == 0 ? first : RandomValidShape(random);
            int elementSize = random.Next(2) == 0 ? 2 : 4;
            int firstExtent = 2 * random.Next(1, first.HeadDim / 2 + 1), secondExtent = 2 * random.Next(1, second.HeadDim / 2 + 1);
            long offset = random.Next(-60, 60) * (random.Next(4) == 0 ? 1 : elementSize);

            var bytes = new HashSet<long>();
            foreach (long element in Elements(first, firstExtent))
            {
                for (int b = 0; b < elementSize; b++)
                {
                    bytes.Add(element * elementSize + b);
                }
            }

            bool expected = Elements(second, secondExtent).Any(element =>
                Enumerable.Range(0, elementSize).Any(b => bytes.Contains(offset + element * elementSize + b)));
            bool actual = HeadOverlap.Between(first, firstExtent, second, secondExtent, offset, elementSize);
            Assert.True(expected == actual, $"trial {trial}: {first} ({firstExtent}) vs {second} ({secondExtent}) at byte {offset}, size {elementSize}: expected {expected}");
            sharing += expected ? 1 : 0;
        }

        Assert.InRange(sharing, 2_000, 18_000);
    }

    private static RopeShape RandomValidShape(Random random)
    {
        while (true)
        {
            int tokens = random.Next(0, 5), heads = random.Next(0, 5), headDim = 2 * random.Next(1, 4);
            int tokenStride = random.Next(0, 30), headStride = random.Next(0, 30);
            if (tokens > 0 && heads > 0 && Marks(tokens, heads, headDim, tokenStride, headStride).All(count => count <= 1))
            {
                return new RopeShape(tokens, heads, headDim, tokenStride, headStride);
            }
        }
    }

    private static IEnumerable<long> Elements(RopeShape shape, int extent)
    {
        for (int token = 0; token < shape.Tokens; token++)
        {
            for (int head = 0; head < shape.Heads; head++)
            {
                for (int i = 0; i < extent; i++)
                {
                    yield return (long)token * shape.TokenStride + (long)head * shape.HeadStride + i;
                }
            }
        }
    }

    private static int[] Marks(int tokens, int heads, int headDim, int tokenStride, int headStride)
    {
        var marks = new int[(tokens - 1) * tokenStride + (heads - 1) * headStride + headDim];
        for (int token = 0; token < tokens; token++)
        {
            for (int head = 0; head < heads; head++)
            {
                for (int i = 0; i < headDim; i++)
                {
                    marks[token * tokenStride + head * headStride + i]++;
                }
            }
        }

        return marks;
    }
}
