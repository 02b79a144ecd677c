using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>
/// One random rotation problem: rotary dim 2..256 with or without pass-through, 1-6 tokens, GQA head counts, either
/// layout, forward or inverse, in or out of place, a start position or explicit positions near 0 or near 2^20.
/// </summary>
public sealed record RandomCase(int RotaryDim, int HeadDim, int Tokens, int QueryHeads, int KeyHeads, RopeLayout Layout,
    bool Inverse, bool OutOfPlace, bool ExplicitPositions, RopeTable Table, int[] Positions)
{
    public const int HighPositionBase = (1 << 20) - 40;

    /// <summary>The positions as the API takes them: the explicit array, or the start of a sequential run.</summary>
    public RopePositions RopePositions => ExplicitPositions ? Positions : RopePositions.Sequential(Positions[0]);

    public static RandomCase Next(Random random)
    {
        int rotaryDim = 2 * random.Next(1, 129);
        int headDim = rotaryDim + 2 * random.Next(0, 4) * random.Next(0, 2);
        int tokens = random.Next(1, 7);
        int queryHeads = random.Next(1, 6);
        int keyHeads = random.Next(1, 3);
        var layout = (RopeLayout)random.Next(2);
        bool inverse = random.Next(2) == 1;
        bool outOfPlace = random.Next(3) == 0;
        bool explicitPositions = random.Next(2) == 0;
        int first = random.Next(2) == 0 ? 0 : HighPositionBase;
        var table = RopeTable.Create(RopeFrequencies.Create(rotaryDim, random.Next(2) == 0 ? 10000 : 500000), first, 48);
        int[] positions = explicitPositions
            ? [.. Enumerable.Range(0, tokens).Select(_ => first + random.Next(48))]
            : [.. Enumerable.Range(first + random.Next(48 - tokens), tokens)];
        return new RandomCase(rotaryDim, headDim, tokens, queryHeads, keyHeads, layout, inverse, outOfPlace, explicitPositions, table, positions);
    }

    public override string ToString() =>
        $"{Layout} rotary {RotaryDim}/{HeadDim} tokens {Tokens} heads {QueryHeads}/{KeyHeads} inverse {Inverse} outOfPlace {OutOfPlace}";
}
