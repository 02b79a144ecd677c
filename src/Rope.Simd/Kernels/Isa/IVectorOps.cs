using System.Diagnostics.CodeAnalysis;
using Rope.Simd.Kernels.Elements;

namespace Rope.Simd.Kernels.Isa;

/// <summary>
/// The per-ISA layer: a register of <see cref="Count"/> float lanes and the handful of operations every kernel and
/// converter is written in. A new instruction set is one new implementation of this interface; rotation kernels,
/// 16-bit codecs, loops and tails are generic over it.
/// </summary>
/// <remarks>
/// The bit operations treat the same register as <see cref="Count"/> 32-bit unsigned lanes (reinterpretation is free);
/// 16-bit elements are processed two per lane, the lower-addressed element in the low half (little-endian).
/// Every arithmetic operation is one IEEE-754 binary32 operation rounded to nearest even, except
/// <see cref="MultiplyAddEstimate"/>, which fuses where the ISA has FMA.
/// </remarks>
internal interface IVectorOps<TVector>
    where TVector : struct
{
    /// <summary>The path these operations implement.</summary>
    static abstract RopePath Path { get; }

    /// <summary>Whether this process can run them at all.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>Whether the runtime accelerates this width by default (the widest such path is the default).</summary>
    static abstract bool IsAccelerated { get; }

    /// <summary>Float lanes per register; even, so a register always holds whole interleaved pairs.</summary>
    static abstract int Count { get; }

    /// <summary>Vector registers the JIT allocates for <typeparamref name="TVector"/> (0 where a "register" is not one).</summary>
    static abstract int RegisterCount { get; }

    /// <summary>Loads <see cref="Count"/> floats from any address (no alignment needed).</summary>
    static abstract TVector Load(ref float source);

    /// <summary>Stores <see cref="Count"/> floats to any address (no alignment needed).</summary>
    static abstract void Store(TVector value, ref float destination);

    /// <summary>Loads <see cref="Count"/> bfloat16 values from any even address, widened exactly to float32 in order.</summary>
    static abstract TVector LoadBFloat16(ref ushort source);


    static abstract TVector Add(TVector left, TVector right);

    static abstract TVector Subtract(TVector left, TVector right);

    static abstract TVector Multiply(TVector left, TVector right);

    static abstract TVector Divide(TVector left, TVector right);

    /// <summary>The square root of each lane, correctly rounded (as the scalar square root).</summary>
    static abstract TVector SquareRoot(TVector value);

    /// <summary>left·right + addend, fused (one rounding) where the ISA has FMA, two roundings otherwise.</summary>
    static abstract TVector MultiplyAddEstimate(TVector left, TVector right, TVector addend);

    /// <summary>[x0, x0, x2, x2, ...].</summary>
    static abstract TVector DuplicateEven(TVector value);

    /// <summary>[x1, x1, x3, x3, ...].</summary>
    static abstract TVector DuplicateOdd(TVector value);

    /// <summary>[x1, x0, x3, x2, ...].</summary>
    static abstract TVector SwapPairs(TVector value);

    /// <summary>The even-indexed lanes of the concatenation of <paramref name="low"/> then <paramref name="high"/>.</summary>
    static abstract TVector UnzipEven(TVector low, TVector high);

    /// <summary>The odd-indexed lanes of the concatenation of <paramref name="low"/> then <paramref name="high"/>.</summary>
    static abstract TVector UnzipOdd(TVector low, TVector high);

    /// <summary>[e0, o0, e1, o1, ...] for the first half of the lanes of <paramref name="even"/> and <paramref name="odd"/>.</summary>
    static abstract TVector ZipLow(TVector even, TVector odd);

    /// <summary>[e_h, o_h, ...] for the second half of the lanes (h = Count / 2).</summary>
    static abstract TVector ZipHigh(TVector even, TVector odd);

    /// <summary>
    /// The low 16 bits of every lane of <paramref name="first"/>, then those of <paramref name="second"/>, in lane
    /// order: one register of 2·Count 16-bit values. The upper 16 bits of every lane of both must be zero.
    /// </summary>
    static abstract TVector PackLowHalves(TVector first, TVector second);

    /// <summary>Every lane holds the bit pattern <paramref name="bits"/>.</summary>
    static abstract TVector Broadcast(uint bits);

    /// <summary>Even lanes hold <paramref name="evenBits"/>, odd lanes <paramref name="oddBits"/>.</summary>
    static abstract TVector BroadcastPair(uint evenBits, uint oddBits);

    static abstract TVector And(TVector left, TVector right);

    static abstract TVector Or(TVector left, TVector right);

    static abstract TVector Xor(TVector left, TVector right);

    /// <summary>Lane-wise 32-bit integer addition, wrapping.</summary>
    static abstract TVector AddBits(TVector left, TVector right);

    static abstract TVector ShiftLeft(TVector value, [ConstantExpected(Min = 0, Max = 31)] int count);

    static abstract TVector ShiftRightLogical(TVector value, [ConstantExpected(Min = 0, Max = 31)] int count);

    /// <summary>Each 32-bit lane shifted right, copies of its sign bit shifted in.</summary>
    static abstract TVector ShiftRightArithmetic(TVector value, [ConstantExpected(Min = 0, Max = 31)] int count);


    /// <summary>The larger 32-bit pattern of each lane, both read as signed integers.</summary>
    static abstract TVector MaxBits(TVector left, TVector right);

    /// <summary>Whether any lane's pattern is greater than the other's, both read as signed integers.</summary>
    static abstract bool AnyGreaterThanBits(TVector left, TVector right);

    /// <summary>All ones in lanes whose 32-bit patterns are equal, zero elsewhere.</summary>
    static abstract TVector EqualsBits(TVector left, TVector right);

    /// <summary>All ones in lanes where left &gt; right as signed 32-bit integers, zero elsewhere.</summary>
    static abstract TVector GreaterThanBits(TVector left, TVector right);

    /// <summary>All ones in lanes holding a NaN, zero elsewhere.</summary>
    static abstract TVector IsNaN(TVector value);

    /// <summary>Lanes of <paramref name="whenTrue"/> where <paramref name="mask"/> is all ones, of <paramref name="whenFalse"/> where it is zero.</summary>
    static abstract TVector Select(TVector mask, TVector whenTrue, TVector whenFalse);

    /// <summary>
    /// The lanes summed by folding halves: lane j plus lane j + Count/2 for the first half, then the same on that half,
    /// down to one lane, each addition rounded (an order every width shares, so sums are the same bits on every path).
    /// </summary>
    static abstract float FoldHalves(TVector value);
}
