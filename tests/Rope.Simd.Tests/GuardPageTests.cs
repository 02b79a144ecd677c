using System.Runtime.InteropServices;
using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// Spans that start right after, or end right before, a page the process may not touch: a path that reads or writes
/// even one element outside its span crashes the test process instead of passing.
/// </summary>
public unsafe class GuardPageTests
{
    private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20;

    public static readonly int[] RotaryDims = [2, 4, 6, 8, 10, 14, 16, 18, 30, 32, 34, 62, 66, 80, 96, 130];

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void NoPathTouchesMemoryOutsideItsSpans(RopePath path, RopeLayout layout)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "needs mmap/mprotect");
        RopeEngine engine = RopeEngine.Get(path);
        using var pages = new GuardedPages();
        var random = new Random(12);
        foreach (int rotaryDim in RotaryDims)
        {
            var table = RopeTable.Create(rotaryDim, 8);
            foreach (int extra in (ReadOnlySpan<int>)[0, 2])
            {
                var shape = new RopeShape(tokens: 2, heads: 3, headDim: rotaryDim + extra);
                float[] input = TestData.Activations(random, shape.RequiredLength);
                int[] positions = [3, 7];
                double[] expected = RotationOracle.Expected(input, shape.Heads, shape.HeadDim, positions, table, layout, false);
                string context = $"{path} {layout} rotary {rotaryDim} head {shape.HeadDim}";

                // In place, flush against the end and then the start of the accessible region.
                foreach (bool atEnd in (ReadOnlySpan<bool>)[true, false])
                {
                    Span<float> span = atEnd ? pages.AtEnd(shape.RequiredLength) : pages.AtStart(shape.RequiredLength);
                    input.CopyTo(span);
                    engine.Apply(table, span, shape, positions, layout);
                    RotationOracle.AssertClose(input, span.ToArray(), expected, shape.HeadDim, rotaryDim, layout, context);
                }

                // Out of place, source at the end and destination at the start, both flush against guard pages.
                Span<float> source = pages.AtEnd(shape.RequiredLength), destination = pages.AtStart(shape.RequiredLength);
                input.CopyTo(source);
                engine.Apply(table, source, destination, shape, positions, layout);
                RotationOracle.AssertClose(input, destination.ToArray(), expected, shape.HeadDim, rotaryDim, layout, context + " out of place");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void SixteenBitRotationStaysInsideItsSpans(RopePath path, PackedType type)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "needs mmap/mprotect");
        RopeEngine engine = RopeEngine.Get(path);
        using var pages = new GuardedPages();
        var random = new Random(13);
        foreach (int rotaryDim in RotaryDims)
        {
            var table = RopeTable.Create(rotaryDim, 8);
            foreach (RopeLayout layout in (ReadOnlySpan<RopeLayout>)[RopeLayout.Interleaved, RopeLayout.HalfSplit])
            {
                // Odd lengths put the last element in the middle of a 4-byte lane, right against the guard page.
                foreach (int extra in (ReadOnlySpan<int>)[0, 2])
                {
                    var shape = new RopeShape(tokens: 2, heads: 3, headDim: rotaryDim + extra, tokenStride: 3 * (rotaryDim + extra) + 1, headStride: rotaryDim + extra);
                    ushort[] input = PackedElements.Activations(type, random, shape.RequiredLength);
                    ushort[] expected = (ushort[])input.Clone();
                    PackedElements.Apply(RopeEngine.Get(RopePath.Scalar), type, table, expected, shape, 5, layout);
                    string context = $"{path} {type} {layout} rotary {rotaryDim} head {shape.HeadDim} length {shape.RequiredLength}";

                    foreach (bool atEnd in (ReadOnlySpan<bool>)[true, false])
                    {
                        Span<ushort> span = atEnd ? pages.AtEnd<ushort>(shape.RequiredLength) : pages.AtStart<ushort>(shape.RequiredLength);
                        input.CopyTo(span);
                        PackedElements.Apply(engine, type, table, span, shape, 5, layout);
                        Assert.True(span.SequenceEqual(expected), context);
                    }

                    Span<ushort> source = pages.AtEnd<ushort>(shape.RequiredLength), destination = pages.AtStart<ushort>(shape.RequiredLength);
                    input.CopyTo(source);
                    PackedElements.Apply(engine, type, table, source, destination, shape, 5, layout);
                    Assert.True(destination.SequenceEqual(expected), context + " out of place");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithPackedTypes), MemberType = typeof(Paths))]
    public void ConversionsStayInsideTheirSpans(RopePath path, PackedType type)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "needs mmap/mprotect");
        RopeEngine engine = RopeEngine.Get(path);
        using var pages = new GuardedPages();
        for (int length = 0; length <= 67; length++)
        {
            float[] values = TestData.Activations(new Random(length), length);
            Span<float> floats = pages.AtEnd<float>(length);
            Span<ushort> narrow = pages.AtStart<ushort>(length);
            values.CopyTo(floats);
            PackedElements.Narrow(engine, type, floats, narrow);
            Assert.Equal(PackedElements.Round(type, values), narrow.ToArray());

            Span<ushort> narrowAtEnd = pages.AtEnd<ushort>(length);
            narrow.CopyTo(narrowAtEnd);
            Span<float> widened = pages.AtStart<float>(length);
            PackedElements.Widen(engine, type, narrowAtEnd, widened);
            Assert.Equal(PackedElements.Widen(type, narrowAtEnd.ToArray()), widened.ToArray());
        }
    }

    [Fact]
    public void TableFillWritesOnlyItsRows()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "needs mmap/mprotect");
        using var pages = new GuardedPages();
        foreach (int rotaryDim in RotaryDims)
        {
            var frequencies = RopeFrequencies.Create(rotaryDim);
            RopeTable.Fill(frequencies, 5, 3, pages.AtEnd(3 * rotaryDim));
            RopeTable.Fill(frequencies, 5, 3, pages.AtStart(3 * rotaryDim));
            Assert.Equal(RopeTable.Create(frequencies, 5, 3).Rows.ToArray(), pages.AtStart(3 * rotaryDim).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(Paths.SupportedWithLayouts), MemberType = typeof(Paths))]
    public void CallerRowsAreReadOnlyInsideTheirSpans(RopePath path, RopeLayout layout)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "needs mmap/mprotect");
        RopeEngine engine = RopeEngine.Get(path);
        using var pages = new GuardedPages();
        var random = new Random(13);
        const int Positions = 4;
        foreach (int rotaryDim in RotaryDims)
        {
            var shape = new RopeShape(tokens: 3, heads: 2, headDim: rotaryDim);
            int[] positions = [Positions - 1, 0, Positions - 1];
            float[] input = TestData.Activations(random, shape.RequiredLength);
            float[] cos = [.. Enumerable.Range(0, Positions * (rotaryDim + 1)).Select(_ => (float)random.NextDouble())];
            float[] sin = [.. Enumerable.Range(0, Positions * (rotaryDim + 1)).Select(_ => (float)random.NextDouble())];
            foreach (int format in (ReadOnlySpan<int>)[0, 1, 2, 3])
            {
                // The tightest spans that hold every row: the last row ends exactly at a guard page, the first starts at one.
                int width = format == 2 ? rotaryDim / 2 : rotaryDim, stride = width + 1, length = (Positions - 1) * stride + width;
                float[] expected = [.. input], actual = [.. input];
                engine.Apply(Rows(format, cos.AsSpan(0, length), sin.AsSpan(0, length), rotaryDim, stride), expected, shape, positions, layout);

                Span<float> guardedCos = pages.AtEnd(length), guardedSin = pages.AtStart(length);
                cos.AsSpan(0, length).CopyTo(guardedCos);
                sin.AsSpan(0, length).CopyTo(guardedSin);
                engine.Apply(Rows(format, guardedCos, guardedSin, rotaryDim, stride), actual, shape, positions, layout);
                Assert.Equal(expected, actual);

                // bfloat16 rows, widened from memory flush against the guard pages too.
                Span<BFloat16> guardedCos16 = pages.AtEnd<BFloat16>(length), guardedSin16 = pages.AtStart<BFloat16>(length);
                for (int i = 0; i < length; i++)
                {
                    guardedCos16[i] = (BFloat16)cos[i];
                    guardedSin16[i] = (BFloat16)sin[i];
                }

                float[] widenedCos = [.. guardedCos16.ToArray().Select(value => (float)value)], widenedSin = [.. guardedSin16.ToArray().Select(value => (float)value)];
                float[] expected16 = [.. input], actual16 = [.. input];
                engine.Apply(Rows<float>(format, widenedCos, widenedSin, rotaryDim, stride), expected16, shape, positions, layout);
                engine.Apply(Rows<BFloat16>(format, guardedCos16, guardedSin16, rotaryDim, stride), actual16, shape, positions, layout);
                Assert.Equal(expected16, actual16);
            }
        }
    }

    private static RopeRows Rows<T>(int format, ReadOnlySpan<T> cos, ReadOnlySpan<T> sin, int rotaryDim, int stride)
        where T : unmanaged => format switch
        {
            0 => RopeRows.Interleaved(cos, rotaryDim, stride),
            1 => RopeRows.CosThenSin(cos, rotaryDim, stride),
            2 => RopeRows.Separate(cos, sin, rotaryDim, stride),
            _ => RopeRows.Duplicated(cos, sin, rotaryDim, stride),
        };

    /// <summary>Two accessible pages with an inaccessible page on each side.</summary>
    private sealed class GuardedPages : IDisposable
    {
        private readonly nuint pageSize = (nuint)Environment.SystemPageSize;
        private readonly byte* mapping;

        public GuardedPages()
        {
            mapping = (byte*)mmap(0, 4 * pageSize, ProtNone, MapPrivate | MapAnonymous, -1, 0);
            Assert.True(mapping != (byte*)-1, "mmap failed");
            Assert.Equal(0, mprotect((nint)(mapping + pageSize), 2 * pageSize, ProtRead | ProtWrite));
        }

        public Span<float> AtStart(int length) => AtStart<float>(length);

        public Span<float> AtEnd(int length) => AtEnd<float>(length);

        public Span<T> AtStart<T>(int length)
            where T : unmanaged => CheckedSpan<T>(mapping + pageSize, length);

        public Span<T> AtEnd<T>(int length)
            where T : unmanaged => CheckedSpan<T>(mapping + 3 * pageSize - length * sizeof(T), length);

        public void Dispose() => munmap((nint)mapping, 4 * pageSize);

        private Span<T> CheckedSpan<T>(byte* start, int length)
            where T : unmanaged
        {
            Assert.True((nuint)length * (nuint)sizeof(T) <= 2 * pageSize, "tensor larger than the guarded region");
            return new Span<T>(start, length);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint address, nuint length, int protection, int flags, int fileDescriptor, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(nint address, nuint length, int protection);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint address, nuint length);
}
