namespace Rope.Simd.Tests;

/// <summary>
/// The suite's tier, from <c>ROPE_SIMD_TIER</c> (read here and nowhere else). Unset or <c>default</c>, the README's test
/// command: the long sweeps run in a sampled form that still reaches every value of every axis on every path (the
/// combination matrix a covering share of its combinations, the float32 → 16-bit narrowing sweeps on sampled lower
/// halves, the first fifth of the random misuse run). <c>exhaustive</c>, CI's leg of that name: every combination of
/// the matrix, all 2^32 float32 patterns narrowed on the widest path, the whole misuse run. Any other value fails every
/// test that asks.
/// </summary>
internal static class TestTier
{
    public const string Variable = "ROPE_SIMD_TIER";

    /// <summary>Whether this run is the exhaustive tier.</summary>
    public static bool Exhaustive { get; } = Environment.GetEnvironmentVariable(Variable) switch
    {
        null or "" or "default" => false,
        "exhaustive" => true,
        string other => throw new InvalidOperationException($"{Variable}={other}: expected default (or unset) or exhaustive."),
    };

    /// <summary><paramref name="sampled"/> in the default tier, <paramref name="exhaustive"/> in the exhaustive tier.</summary>
    public static T Choose<T>(T sampled, T exhaustive) => Exhaustive ? exhaustive : sampled;
}
