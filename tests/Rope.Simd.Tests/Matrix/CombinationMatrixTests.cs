using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Rope.Simd;
using Xunit.Sdk;

namespace Rope.Simd.Tests.Matrix;

/// <summary>
/// The product of the library's axes, every combination once per exhaustive-tier run against <see cref="Float64Rope"/>:
/// element type × operation (Apply in place and out of place, one tensor or queries and keys, ApplyWithNorm with each
/// norm kind, packed QKV, ApplyAndAppend into each cache type and layout) × row source (table, computed, the caller's
/// interleaved, cos-then-sin, separate and duplicated rows in each value type) × pair layout × rotary and head dims
/// (below, at and above every path's block, partial rotary, odd pair counts) × kind of positions, each on every path
/// this process runs. Inside a combination the tensors' sizes, strides, batch, inverse rotation, caller-row padding,
/// norms and a parallel engine are drawn at random (<c>ROPE_SIMD_MATRIX=exhaustive</c> runs every variant instead).
/// The default tier (<see cref="TestTier"/>) runs a covering share of each element type and operation's combinations
/// (every value of every axis, see <see cref="CoveringSample"/>).
/// Besides the documented bounds it enforces the documented bit identities: 16-bit results are the same bits on every
/// path, float32 caller rows and computed rows give a table's bits, elements outside the heads and cache places not
/// written keep theirs, and what a call only reads is not written. A combination the API refuses must be refused with a
/// named parameter. A failure names the seed (<c>ROPE_SIMD_MATRIX_SEED</c> repeats it) and the combination.
/// </summary>
public class CombinationMatrixTests
{
    private const int Positions = 48, BlockSize = 4;
    private const double Base = 10000;
    private const float Epsilon = 1e-5f;

    // Half-split spans (rotary / 2) and interleaved spans (rotary) below, at and above 4, 8, 16 and 32 elements (every
    // path's float32 and 16-bit blocks), register-resident and not, partial rotary, odd pair counts.
    private static readonly (int RotaryDim, int HeadDim)[] Dims =
        [(2, 2), (6, 6), (8, 8), (10, 12), (16, 16), (18, 18), (32, 32), (34, 40), (48, 64), (64, 64), (80, 80), (96, 96), (128, 128), (130, 130), (192, 200), (256, 256)];

    private static readonly int BaseSeed = int.TryParse(Environment.GetEnvironmentVariable("ROPE_SIMD_MATRIX_SEED"), out int seed)
        ? seed : Random.Shared.Next();

    // ROPE_SIMD_MATRIX: "all", every combination once (the exhaustive tier's default); "sampled:N", one combination in N,
    // every value of every axis among them (see CoveringSample; the default tier's default is sampled:8, the emulated
    // ARM64 legs set sampled:128); "exhaustive", every variant of every combination (tens of minutes on 2 cores).
    private static readonly string Mode = Environment.GetEnvironmentVariable("ROPE_SIMD_MATRIX") is { Length: > 0 } mode ? mode
        : TestTier.Choose("sampled:8", "all");

    private static readonly bool Exhaustive = Mode == "exhaustive";

    private static readonly int SampleOneIn = Mode.StartsWith("sampled:", StringComparison.Ordinal) ? int.Parse(Mode["sampled:".Length..])
        : Mode is "all" or "exhaustive" ? 1 : throw new InvalidOperationException($"ROPE_SIMD_MATRIX={Mode}: expected all, sampled:N or exhaustive.");

    private static readonly ConcurrentDictionary<(int, RowSource, int), RowSet> RowSets = new();

    public static TheoryData<ElementKind, Operation, ElementKind, CacheLayout> Slices
    {
        get
        {
            var data = new TheoryData<ElementKind, Operation, ElementKind, CacheLayout>();
            foreach (ElementKind type in Enum.GetValues<ElementKind>())
            {
                foreach (MatrixOperation operation in Operations())
                {
                    data.Add(type, operation.Kind, operation.Cache, operation.CacheLayout);
                }
            }

            return data;
        }
    }

    /// <summary>Every operation, the appends once per cache type and layout.</summary>
    public static IEnumerable<MatrixOperation> Operations()
    {
        foreach (Operation kind in Enum.GetValues<Operation>())
        {
            if (kind is Operation.Append or Operation.AppendPacked)
            {
                foreach (ElementKind cache in Enum.GetValues<ElementKind>())
                {
                    foreach (CacheLayout layout in Enum.GetValues<CacheLayout>())
                    {
                        yield return new MatrixOperation(kind, cache, layout);
                    }
                }
            }
            else
            {
                yield return new MatrixOperation(kind);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Slices))]
    public void EveryCombinationMeetsTheFloat64Reference(ElementKind type, Operation kind, ElementKind cache, CacheLayout cacheLayout)
    {
        var operation = new MatrixOperation(kind, cache, cacheLayout);
        int combinations = type switch
        {
            ElementKind.Single => ForCache<float>(operation),
            ElementKind.BFloat16 => ForCache<BFloat16>(operation),
            _ => ForCache<Half>(operation),
        };
        int all = Enum.GetValues<RowSource>().Length * 2 * Dims.Length * Enum.GetValues<PositionSource>().Length;
        Assert.InRange(combinations, all / SampleOneIn, (all + SampleOneIn - 1) / SampleOneIn);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(128)]
    [InlineData(140)]
    public void SampledShareHoldsEveryValueOfEveryAxis(int oneIn)
    {
        int rowSources = Enum.GetValues<RowSource>().Length, positionKinds = Enum.GetValues<PositionSource>().Length;
        int all = rowSources * 2 * Dims.Length * positionKinds;
        for (int run = 0; run < 64; run++)
        {
            HashSet<int> sample = CoveringSample(unchecked(BaseSeed + run), oneIn);
            Assert.Equal(all / oneIn, sample.Count);
            Assert.All(sample, index => Assert.InRange(index, 0, all - 1));
            Assert.Equal(positionKinds, sample.Select(index => index % positionKinds).Distinct().Count());
            Assert.Equal(Dims.Length, sample.Select(index => index / positionKinds % Dims.Length).Distinct().Count());
            Assert.Equal(2, sample.Select(index => index / (positionKinds * Dims.Length) % 2).Distinct().Count());
            Assert.Equal(rowSources, sample.Select(index => index / (positionKinds * Dims.Length * 2)).Distinct().Count());
        }
    }

    private static int ForCache<T>(MatrixOperation operation)
        where T : unmanaged =>
        operation.Cache switch
        {
            ElementKind.Single => Slice<T, float>(operation),
            ElementKind.BFloat16 => Slice<T, BFloat16>(operation),
            _ => Slice<T, Half>(operation),
        };

    /// <summary>Every combination of one element type and operation; returns how many ran.</summary>
    private static int Slice<T, TCache>(MatrixOperation operation)
        where T : unmanaged
        where TCache : unmanaged
    {
        int combinations = 0, index = 0;
        HashSet<int>? sample = SampleOneIn > 1 ? CoveringSample(Seed(Kind<T>(), operation, RowSource.Table, RopeLayout.Interleaved, -1, PositionSource.Start), SampleOneIn) : null;
        foreach (RowSource rows in Enum.GetValues<RowSource>())
        {
            foreach (RopeLayout layout in (RopeLayout[])[RopeLayout.Interleaved, RopeLayout.HalfSplit])
            {
                for (int dims = 0; dims < Dims.Length; dims++)
                {
                    foreach (PositionSource positions in Enum.GetValues<PositionSource>())
                    {
                        // Sampled: a different covering share of the combinations each run (the seed moves it).
                        if (sample is not null && !sample.Contains(index++))
                        {
                            continue;
                        }

                        int seed = Seed(Kind<T>(), operation, rows, layout, dims, positions);
                        var random = new Random(seed);
                        IEnumerable<MatrixVariant> variants = Exhaustive ? MatrixVariant.All(operation, rows) : [MatrixVariant.Sample(operation, rows, random)];
                        foreach (MatrixVariant variant in variants)
                        {
                            var combination = new Combination(Kind<T>(), operation, rows, layout, Dims[dims].RotaryDim, Dims[dims].HeadDim, positions, variant);
                            try
                            {
                                new MatrixCase<T, TCache>(combination, random).Run(random);
                            }
                            catch (Exception exception)
                            {
                                throw new XunitException(
                                    $"ROPE_SIMD_MATRIX_SEED={BaseSeed} (combination seed {seed}): {combination}: {exception.Message}", exception);
                            }
                        }

                        combinations++;
                    }
                }
            }
        }

        return combinations;
    }

    /// <summary>
    /// One combination in <paramref name="oneIn"/> of a slice (an element type and operation), as indices in
    /// <see cref="Slice"/>'s order, that holds every value of every axis (row source, pair layout, dims, kind of
    /// positions) wherever there are enough of them (<paramref name="oneIn"/> up to 140): first as many combinations as
    /// the widest axis has values, the i-th taking value i of each axis (modulo its count) in that axis's own shuffled
    /// order, then the rest drawn at random. <paramref name="seed"/> picks both, so each run and slice covers differently.
    /// </summary>
    internal static HashSet<int> CoveringSample(int seed, int oneIn)
    {
        int rowSources = Enum.GetValues<RowSource>().Length, layouts = 2, positionKinds = Enum.GetValues<PositionSource>().Length;
        int all = rowSources * layouts * Dims.Length * positionKinds, take = all / oneIn;
        var random = new Random(seed);
        int[] rows = Shuffled(rowSources), layout = Shuffled(layouts), dims = Shuffled(Dims.Length), positions = Shuffled(positionKinds);
        var sample = new HashSet<int>();
        int widest = Math.Max(Math.Max(rowSources, layouts), Math.Max(Dims.Length, positionKinds));
        for (int i = 0; i < widest && sample.Count < take; i++)
        {
            sample.Add((((((rows[i % rowSources] * layouts) + layout[i % layouts]) * Dims.Length) + dims[i % Dims.Length]) * positionKinds) + positions[i % positionKinds]);
        }

        while (sample.Count < take)
        {
            sample.Add(random.Next(all));
        }

        return sample;

        int[] Shuffled(int count)
        {
            int[] order = [.. Enumerable.Range(0, count)];
            random.Shuffle(order);
            return order;
        }
    }

    private static int Seed(ElementKind type, MatrixOperation operation, RowSource rows, RopeLayout layout, int dims, PositionSource positions)
    {
        // A stable mix (HashCode.Combine differs between processes, and the seed must repeat a failure).
        long mix = BaseSeed;
        foreach (int part in (ReadOnlySpan<int>)[(int)type, (int)operation.Kind, (int)operation.Cache, (int)operation.CacheLayout, (int)rows, (int)layout, dims, (int)positions])
        {
            mix = (mix * 1_000_003) ^ (part + 0x9E3779B9L);
        }

        return (int)(mix ^ (mix >> 32));
    }

    internal static ElementKind Kind<T>() =>
        typeof(T) == typeof(float) ? ElementKind.Single : typeof(T) == typeof(BFloat16) ? ElementKind.BFloat16 : ElementKind.Half;

    internal static double Widen<T>(T value)
        where T : unmanaged =>
        typeof(T) == typeof(float) ? Unsafe.As<T, float>(ref value)
        : typeof(T) == typeof(BFloat16) ? (float)Unsafe.As<T, BFloat16>(ref value)
        : (double)Unsafe.As<T, Half>(ref value);

    internal static T Narrow<T>(double value)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float single = (float)value;
            return Unsafe.As<float, T>(ref single);
        }

        if (typeof(T) == typeof(BFloat16))
        {
            var brain = (BFloat16)(float)Float64Rope.Round(ElementKind.BFloat16, value);
            return Unsafe.As<BFloat16, T>(ref brain);
        }

        var half = (Half)Float64Rope.Round(ElementKind.Half, value);
        return Unsafe.As<Half, T>(ref half);
    }

    /// <summary>Whether two elements hold the same bits.</summary>
    internal static bool SameBits<T>(T first, T second)
        where T : unmanaged =>
        Unsafe.SizeOf<T>() == 4 ? Unsafe.As<T, uint>(ref first) == Unsafe.As<T, uint>(ref second) : Unsafe.As<T, ushort>(ref first) == Unsafe.As<T, ushort>(ref second);

    internal static RowSet RowsFor(int rotaryDim, RowSource source, int padding) => RowSets.GetOrAdd((rotaryDim, source, padding), key => new RowSet(key.Item1, key.Item2, key.Item3));

    /// <summary>One combination of the axes and its drawn variant.</summary>
    internal sealed record Combination(ElementKind Type, MatrixOperation Operation, RowSource Rows, RopeLayout Layout, int RotaryDim, int HeadDim,
        PositionSource Positions, MatrixVariant Variant)
    {
        public override string ToString() =>
            $"{Type} {Operation}, {Rows} rows, {Layout}, rotary dim {RotaryDim} of head dim {HeadDim}, {Positions} positions, {Variant}";
    }

    /// <summary>
    /// A source's rows for positions [0, <see cref="Positions"/>): the arrays the call reads and, for the oracle, the cos
    /// and sin it must use (the exact values for the library's rows, the caller's values as given for caller rows, which
    /// are a table's rows rounded to their value type).
    /// </summary>
    internal sealed class RowSet
    {
        private readonly Array first, second;

        public RowSet(int rotaryDim, RowSource source, int padding)
        {
            RotaryDim = rotaryDim;
            Source = source;
            int pairs = rotaryDim / 2;
            Frequencies = RopeFrequencies.Create(rotaryDim, Base);
            Table = RopeTable.Create(rotaryDim, Positions, Base);
            Cos = new double[Positions][];
            Sin = new double[Positions][];
            double[] omega = Float64Rope.InverseFrequencies(rotaryDim, Base);
            ElementKind value = source.ToString().EndsWith("BFloat16", StringComparison.Ordinal) ? ElementKind.BFloat16
                : source.ToString().EndsWith("Half", StringComparison.Ordinal) ? ElementKind.Half : ElementKind.Single;
            string format = source.ToString().Replace(value.ToString(), string.Empty, StringComparison.Ordinal);
            int width = format == "Separate" ? pairs : rotaryDim;
            Stride = width + padding;
            double[] firstValues = new double[Positions * Stride], secondValues = new double[Positions * Stride];
            for (int position = 0; position < Positions; position++)
            {
                Cos[position] = new double[pairs];
                Sin[position] = new double[pairs];
                ReadOnlySpan<float> row = Table.GetRow(position);
                for (int pair = 0; pair < pairs; pair++)
                {
                    if (source is RowSource.Table or RowSource.Computed)
                    {
                        Cos[position][pair] = Math.Cos(position * omega[pair]);
                        Sin[position][pair] = Math.Sin(position * omega[pair]);
                        continue;
                    }

                    double c = Float64Rope.Round(value, row[2 * pair]), s = Float64Rope.Round(value, row[2 * pair + 1]);
                    Cos[position][pair] = c;
                    Sin[position][pair] = s;
                    int at = position * Stride;
                    switch (format)
                    {
                        case "Interleaved":
                            firstValues[at + (2 * pair)] = c;
                            firstValues[at + (2 * pair) + 1] = s;
                            break;
                        case "CosThenSin":
                            firstValues[at + pair] = c;
                            firstValues[at + pairs + pair] = s;
                            break;
                        case "Separate":
                            firstValues[at + pair] = c;
                            secondValues[at + pair] = s;
                            break;
                        default:
                            firstValues[at + pair] = firstValues[at + pairs + pair] = c;
                            secondValues[at + pair] = secondValues[at + pairs + pair] = s;
                            break;
                    }
                }
            }

            Format = format;
            first = value switch
            {
                ElementKind.Single => firstValues.Select(x => (float)x).ToArray(),
                ElementKind.BFloat16 => firstValues.Select(x => (BFloat16)(float)x).ToArray(),
                _ => firstValues.Select(x => (Half)x).ToArray(),
            };
            second = value switch
            {
                ElementKind.Single => secondValues.Select(x => (float)x).ToArray(),
                ElementKind.BFloat16 => secondValues.Select(x => (BFloat16)(float)x).ToArray(),
                _ => secondValues.Select(x => (Half)x).ToArray(),
            };
        }

        public int RotaryDim { get; }

        public RowSource Source { get; }

        public string Format { get; }

        public int Stride { get; }

        public RopeFrequencies Frequencies { get; }

        public RopeTable Table { get; }

        public double[][] Cos { get; }

        public double[][] Sin { get; }

        /// <summary>Whether a table's rows must give the very same bits (float32 caller rows exported from it, rows computed per call).</summary>
        public bool HasTableTwin => Source is RowSource.Computed or RowSource.InterleavedSingle or RowSource.CosThenSinSingle or RowSource.SeparateSingle
            or RowSource.DuplicatedSingle;

        public RopeRows Make() => Source switch
        {
            RowSource.Table => Table,
            RowSource.Computed => Frequencies,
            _ => first switch
            {
                float[] single => Make<float>(single, (float[])second),
                BFloat16[] brain => Make<BFloat16>(brain, (BFloat16[])second),
                _ => Make<Half>((Half[])first, (Half[])second),
            },
        };

        private RopeRows Make<TValue>(TValue[] firstValues, TValue[] secondValues)
            where TValue : unmanaged => Format switch
            {
                "Interleaved" => RopeRows.Interleaved<TValue>(firstValues, RotaryDim, Stride),
                "CosThenSin" => RopeRows.CosThenSin<TValue>(firstValues, RotaryDim, Stride),
                "Separate" => RopeRows.Separate<TValue>(firstValues, secondValues, RotaryDim, Stride),
                _ => RopeRows.Duplicated<TValue>(firstValues, secondValues, RotaryDim, Stride),
            };
    }
}
