using Rope.Simd.Drivers;
using Rope.Simd.Kernels.Isa;
using Rope.Simd.Platform;
using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// Rotates float32, bfloat16 and float16 query and key activations by the cos/sin rows of <see cref="RopeRows"/> (a
/// <see cref="RopeTable"/>, rows computed per call from <see cref="RopeFrequencies"/>, or the caller's own cache) on one
/// instruction-set path, and converts spans between float32 and the 16-bit types on that path.
/// <see cref="Default"/> is the widest path the runtime accelerates; <see cref="Supported"/> lists every path
/// this process can run, each callable on purpose; <see cref="WithParallelism"/> gives an engine that splits large
/// calls over the thread pool. Stateless and thread-safe; allocation-free for rotary dims up to 1024 (wider ones rent
/// scratch from the shared array pool).
/// </summary>
/// <remarks>
/// <para>For each token t at position p = positions[t], each head, and each pair i &lt; rotaryDim/2 with elements
/// (a, b) placed as <see cref="RopeLayout"/> says: a' = a·c − b·s, b' = a·s + b·c with (c, s) = (cos(p·ω_i), sin(p·ω_i))
/// read from the rows. The inverse rotation uses −s (rotation by −angle). Elements of a head from rotaryDim to headDim
/// pass through: untouched in place, copied out of place. The element type is <see cref="float"/>,
/// <see cref="BFloat16"/> or <see cref="Half"/> (any other throws <see cref="NotSupportedException"/>).</para>
/// <para>Accuracy: with M = max(|a|, |b|), every rotated element is within 2·2^-23·M of the exact rotation of the
/// float32 inputs by the exact angle (with a table or computed rows; with caller rows, of the rotation by the given c
/// and s, times max(1, |c| + |s|)), on every path (float32 products combined by a fused multiply-add where the
/// ISA has one). NaN and infinity propagate as in the formula evaluated in double.</para>
/// <para>bfloat16 and float16 (<see cref="Half"/>) activations are widened exactly, rotated in float32 with the same
/// float32 table (two products and one sum, each rounded to float32, never fused), and rounded once, to nearest even,
/// when stored. The result is therefore the same bits on every path and every CPU. With y the exact rotation (the
/// double reference) and E = 3·2^-23·max(|a|, |b|) + 2^-147, the bound on the float32 result's error, every rotated
/// element equals y rounded to the element type, except when a rounding boundary of that type (a midpoint between
/// two neighbours) lies within E of y; then it is one of those two neighbours. Both are under half a unit in the last
/// place of the element type plus E.</para>
/// </remarks>
public sealed partial class RopeEngine
{
    private static readonly RopeEngine[] SupportedEngines = CreateSupportedEngines();

    private RopeEngine(RopePath path, bool isAccelerated, int maxDegreeOfParallelism, int minElementsPerThread)
    {
        Path = path;
        IsAccelerated = isAccelerated;
        MaxDegreeOfParallelism = maxDegreeOfParallelism;
        MinElementsPerThread = minElementsPerThread;
    }

    /// <summary>The widest path the runtime accelerates in this process.</summary>
    public static RopeEngine Default { get; } = Array.Find(SupportedEngines, engine => engine.IsAccelerated)!;

    /// <summary>
    /// Every path this process can run, widest first; <see cref="RopePath.Scalar"/> is always last. A path can be
    /// supported without being the default, e.g. Vector512 under <c>DOTNET_PreferredVectorBitWidth=256</c>.
    /// </summary>
    public static IReadOnlyList<RopeEngine> Supported => SupportedEngines;

    /// <summary>
    /// The widest path this processor runs, read from the hardware (CPUID on x64), whatever this process enables.
    /// Wider than <see cref="Default"/>'s path means speed is left unused by the build or the process settings: a
    /// NativeAOT publish whose instruction set leaves the path out (publish with <c>-p:IlcInstructionSet=native</c>,
    /// or <c>x86-64-v4</c> for AVX-512 machines, <c>x86-64-v3</c> for AVX2), or a <c>DOTNET_EnableAVX512=0</c> or
    /// <c>DOTNET_PreferredVectorBitWidth</c> knob. ARM64 gives <see cref="RopePath.Vector128"/>; other architectures
    /// <see cref="RopePath.Scalar"/>.
    /// </summary>
    public static RopePath CpuWidestPath => CpuCapabilities.WidestPath;

    /// <summary>The instruction-set path of this engine.</summary>
    public RopePath Path { get; }

    /// <summary>
    /// The most threads one call of this engine rotates on: 1 for the engines of <see cref="Default"/>,
    /// <see cref="Supported"/> and <see cref="Get"/>; the cap given to <see cref="WithParallelism"/> otherwise.
    /// </summary>
    public int MaxDegreeOfParallelism { get; }

    /// <summary>
    /// Rotated elements (tokens × heads × rotary dim, queries and keys together) per thread below which a parallel
    /// engine uses fewer threads; a call under twice this stays on the calling thread. 0 for single-threaded engines.
    /// </summary>
    public int MinElementsPerThread { get; }

    /// <summary>The default of <see cref="WithParallelism"/>'s threshold: 65,536 rotated elements per thread.</summary>
    public const int DefaultMinElementsPerThread = 1 << 16;

    /// <summary>
    /// An engine on the same path that splits large rotations (tokens × heads) over the .NET thread pool, with the
    /// calling thread taking part, and returns when all of it is done. Every Apply overload and element type is
    /// covered; results are the same bits as this engine's. A call of N rotated elements uses
    /// min(<paramref name="maxDegreeOfParallelism"/>, N / <paramref name="minElementsPerThread"/>) threads, so decode
    /// steps and small prefills run on the calling thread with no hand-off. Allocation-free once warm (work items are
    /// pooled); thread-safe; span conversions stay on the calling thread.
    /// </summary>
    /// <param name="maxDegreeOfParallelism">The most threads one call uses, the calling thread included: at least 1
    /// (1 never leaves the calling thread). More threads than cores only add hand-off costs.</param>
    /// <param name="minElementsPerThread">Rotated elements each thread must get before another is added: positive.
    /// Waking a pool thread that has gone to sleep can take 10-20 µs on virtual machines, the time one thread rotates
    /// 100K+ elements in, so thresholds far below the default rarely pay off.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count is not positive.</exception>
    public RopeEngine WithParallelism(int maxDegreeOfParallelism, int minElementsPerThread = DefaultMinElementsPerThread)
    {
        Guard.AtLeast(maxDegreeOfParallelism, 1);
        Guard.AtLeast(minElementsPerThread, 1);
        return new RopeEngine(Path, IsAccelerated, maxDegreeOfParallelism, minElementsPerThread);
    }

    /// <summary>Whether this process can run <paramref name="path"/>.</summary>
    public static bool IsSupported(RopePath path) => Array.Exists(SupportedEngines, engine => engine.Path == path);

    /// <summary>The engine for one path.</summary>
    /// <exception cref="PlatformNotSupportedException">The CPU or the runtime's settings do not allow that path.</exception>
    public static RopeEngine Get(RopePath path) =>
        Array.Find(SupportedEngines, engine => engine.Path == path)
        ?? throw new PlatformNotSupportedException($"The {path} path is not available in this process.");

    // RS0026 guards against overloads that differ only by optional parameters; these differ by their span and shape
    // parameters, so the optional inverse never makes a call ambiguous.
#pragma warning disable RS0026
    /// <summary>Rotates one tensor in place.</summary>
    /// <typeparam name="TElement"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">cos/sin rows: a <see cref="RopeTable"/>, <see cref="RopeFrequencies"/> (rows computed per call) or
    /// the caller's cache; their rotary dim is rotated in each head.</param>
    /// <param name="values">The activations, at least <paramref name="shape"/>.RequiredLength elements.</param>
    /// <param name="shape">Tokens, heads, head dim and strides of <paramref name="values"/>; head dim ≥ the rows' rotary dim.</param>
    /// <param name="positions">A start position or one position per token; every one must have a row.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle (undo a rotation; shift cached keys back).</param>
    /// <exception cref="ArgumentException">A span is too short, the shape does not fit the rows, or a position has no row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TElement"/> is not one of the three types.</exception>
    public void Apply<TElement>(RopeRows rows, Span<TElement> values, RopeShape shape, RopePositions positions, RopeLayout layout, bool inverse = false)
        where TElement : unmanaged
    {
        CallChecks.Apply(rows, values, shape, positions, layout);
        Rotation.Run(this, rows, positions, layout, inverse, shape, new RotationTarget<TElement>(values, values, shape), default, new PlainRotation());
    }

    /// <summary>
    /// Rotates queries and keys in place in one pass: each token's row is expanded once and used for all heads of both
    /// (grouped-query attention, e.g. 32 query heads and 8 key heads).
    /// </summary>
    /// <typeparam name="TElement"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="queries">Query activations, at least <paramref name="queryShape"/>.RequiredLength elements.</param>
    /// <param name="queryShape">Shape of the queries.</param>
    /// <param name="keys">Key activations; must not share elements with the query heads.</param>
    /// <param name="keyShape">Shape of the keys: the same token count as the queries.</param>
    /// <param name="positions">A start position or one position per token.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">A span is too short, the token counts differ, a shape does not fit the rows, or a position has no row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TElement"/> is not one of the three types.</exception>
    public void Apply<TElement>(RopeRows rows, Span<TElement> queries, RopeShape queryShape, Span<TElement> keys, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
        where TElement : unmanaged
    {
        CallChecks.Apply(rows, queries, queryShape, keys, keyShape, positions, layout);
        Rotation.Run(this, rows, positions, layout, inverse, queryShape,
            new RotationTarget<TElement>(queries, queries, queryShape), new RotationTarget<TElement>(keys, keys, keyShape), new PlainRotation());
    }

    /// <summary>Rotates one tensor from <paramref name="source"/> into <paramref name="destination"/> (same shape); pass-through elements are copied.</summary>
    /// <typeparam name="TElement"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="source">Input activations.</param>
    /// <param name="destination">Output: either the very same memory as the source (in place) or memory that does not overlap it.
    /// Elements between heads (stride gaps) are not written.</param>
    /// <param name="shape">Shape of both.</param>
    /// <param name="positions">A start position or one position per token.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">A span is too short, the spans partly overlap, the shape does not fit the rows, or a position has no row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TElement"/> is not one of the three types.</exception>
    public void Apply<TElement>(RopeRows rows, ReadOnlySpan<TElement> source, Span<TElement> destination, RopeShape shape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
        where TElement : unmanaged
    {
        CallChecks.Apply(rows, source, destination, shape, positions, layout);
        Rotation.Run(this, rows, positions, layout, inverse, shape, new RotationTarget<TElement>(source, destination, shape), default, new PlainRotation());
    }

    /// <summary>Rotates queries and keys out of place in one pass (see the in-place overload for the GQA semantics).</summary>
    /// <typeparam name="TElement"><see cref="float"/>, <see cref="BFloat16"/> or <see cref="Half"/>.</typeparam>
    /// <param name="rows">cos/sin rows.</param>
    /// <param name="querySource">Input queries.</param>
    /// <param name="queryDestination">Output queries: the same memory as the input or not overlapping it.</param>
    /// <param name="queryShape">Shape of the query input and output.</param>
    /// <param name="keySource">Input keys.</param>
    /// <param name="keyDestination">Output keys: the same memory as the input or not overlapping it.</param>
    /// <param name="keyShape">Shape of the key input and output: the same token count as the queries.</param>
    /// <param name="positions">A start position or one position per token.</param>
    /// <param name="layout">Where each rotated pair lies in a head.</param>
    /// <param name="inverse">Rotate by −angle.</param>
    /// <exception cref="ArgumentException">A span is too short, spans partly overlap, the token counts differ, a shape does not fit the rows, or a position has no row.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="TElement"/> is not one of the three types.</exception>
    public void Apply<TElement>(RopeRows rows,
        ReadOnlySpan<TElement> querySource, Span<TElement> queryDestination, RopeShape queryShape,
        ReadOnlySpan<TElement> keySource, Span<TElement> keyDestination, RopeShape keyShape,
        RopePositions positions, RopeLayout layout, bool inverse = false)
        where TElement : unmanaged
    {
        CallChecks.Apply(rows, querySource, queryDestination, queryShape, keySource, keyDestination, keyShape, positions, layout);
        Rotation.Run(this, rows, positions, layout, inverse, queryShape,
            new RotationTarget<TElement>(querySource, queryDestination, queryShape), new RotationTarget<TElement>(keySource, keyDestination, keyShape), new PlainRotation());
    }

#pragma warning restore RS0026

    /// <inheritdoc/>
    public override string ToString() => MaxDegreeOfParallelism > 1 ? $"{Path} ×{MaxDegreeOfParallelism}" : Path.ToString();

    /// <summary>Whether the runtime accelerates this path (it may be supported without, e.g. Vector512 under a 256-bit preference).</summary>
    internal bool IsAccelerated { get; }

    /// <summary>
    /// Threads a call uses: min(<see cref="MaxDegreeOfParallelism"/>, rotated elements / <see cref="MinElementsPerThread"/>),
    /// at least 1.
    /// </summary>
    internal int Workers(int tokens, int heads, int rotaryDim)
    {
        if (MaxDegreeOfParallelism <= 1)
        {
            return 1;
        }

        long byWork = (long)tokens * heads * rotaryDim / MinElementsPerThread;
        return (int)Math.Clamp(byWork, 1, MaxDegreeOfParallelism);
    }

    private static RopeEngine[] CreateSupportedEngines()
    {
        var engines = new List<RopeEngine>(4);
        foreach (RopePath path in IsaPaths.All)
        {
            (bool supported, bool accelerated) = IsaPaths.Availability(path);
            if (supported)
            {
                engines.Add(new RopeEngine(path, accelerated, maxDegreeOfParallelism: 1, minElementsPerThread: 0));
            }
        }

        return engines.ToArray();
    }
}
