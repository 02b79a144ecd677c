using System.Text.RegularExpressions;
using Rope.Simd;

// "exercise": runs every driver family (every row source, position kind, norm, KV append, packed QKV) and conversion loop of every vector path once. "check LISTING": reads the listing the JIT wrote meanwhile (DOTNET_JitDisasm, DOTNET_JitStdOutFile) and
// fails every optimized loop that still calls into Rope.Simd.Kernels: the ISA operations and codecs are one-line
// helpers that must be inlined, and a loop left calling them (the JIT's inlining budget spent) runs several times slower.
return args switch
{
    ["exercise"] => Exercise(),
    ["check", var listing] => Check(File.ReadAllText(listing)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: exercise | check LISTING");
    return 2;
}

static int Exercise()
{
    // A rotary dim of 128 takes the register-resident loops (float32); 72 is no whole number of blocks on any vector
    // width, so it takes the slot loops (every element type).
    foreach (int rotaryDim in (ReadOnlySpan<int>)[128, 72])
    {
        const int tokens = 64, heads = 4;
        var table = RopeTable.Create(rotaryDim, tokens);
        var frequencies = RopeFrequencies.Create(rotaryDim);
        var shape = new RopeShape(tokens, heads, rotaryDim);
        var singles = new float[shape.RequiredLength];
        var bfloat16s = new BFloat16[shape.RequiredLength];
        var halves = new Half[shape.RequiredLength];
        var weights = new float[rotaryDim];
        // Every row source: the table, rows computed per call, and the caller's rows in each layout and value type.
        var interleavedRows = new float[tokens * rotaryDim];
        var cosRuns = new float[tokens * rotaryDim / 2];
        var sinRuns = new float[tokens * rotaryDim / 2];
        var interleavedBFloat16 = new BFloat16[tokens * rotaryDim];
        var interleavedHalf = new Half[tokens * rotaryDim];
        var cosBFloat16 = new BFloat16[tokens * rotaryDim / 2];
        var sinBFloat16 = new BFloat16[tokens * rotaryDim / 2];
        var cosHalf = new Half[tokens * rotaryDim / 2];
        var sinHalf = new Half[tokens * rotaryDim / 2];
        var cosThenSin = new float[tokens * rotaryDim];
        // Every position kind.
        int[] explicitPositions = [.. Enumerable.Range(0, tokens)];
        long[] longPositions = [.. Enumerable.Range(0, tokens).Select(position => (long)position)];
        var sections = MropeSections.Contiguous(rotaryDim / 2 - 2 * (rotaryDim / 8), rotaryDim / 8, rotaryDim / 8);
        // One call each compiles every loop (run.sh turns tiering off, so the first compile is the optimized one).
        foreach (RopeEngine engine in RopeEngine.Supported.Where(engine => engine.Path != RopePath.Scalar))
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                engine.Apply(table, singles.AsSpan(), shape, 0, layout);
                engine.Apply(table, bfloat16s.AsSpan(), shape, 0, layout);
                engine.Apply(table, halves.AsSpan(), shape, 0, layout);
                engine.Apply(frequencies, bfloat16s.AsSpan(), shape, 0, layout);
                for (int source = 0; source < 7; source++)
                {
                    RopeRows rows = source switch
                    {
                        0 => RopeRows.Interleaved<float>(interleavedRows, rotaryDim),
                        1 => RopeRows.Separate<float>(cosRuns, sinRuns, rotaryDim),
                        2 => RopeRows.Interleaved<BFloat16>(interleavedBFloat16, rotaryDim),
                        3 => RopeRows.Separate<BFloat16>(cosBFloat16, sinBFloat16, rotaryDim),
                        4 => RopeRows.Interleaved<Half>(interleavedHalf, rotaryDim),
                        5 => RopeRows.Separate<Half>(cosHalf, sinHalf, rotaryDim),
                        _ => RopeRows.CosThenSin<float>(cosThenSin, rotaryDim),
                    };
                    engine.Apply(rows, singles.AsSpan(), shape, 0, layout);
                    engine.Apply(rows, halves.AsSpan(), shape, 0, layout);
                }

                engine.Apply(table, singles.AsSpan(), shape, RopePositions.Explicit(explicitPositions), layout);
                engine.Apply(table, singles.AsSpan(), shape, RopePositions.Explicit(longPositions), layout);
                engine.Apply(table, bfloat16s.AsSpan(), shape, RopePositions.Sequential([0]), layout);
                engine.Apply(table, halves.AsSpan(), shape, RopePositions.Multimodal(explicitPositions, explicitPositions, explicitPositions, sections), layout);
                // QK norm + rotation: the norm is applied inside the same register-resident loops.
                engine.ApplyWithNorm(table, singles.AsSpan(), shape, RopeHeadNorm.Rms(weights, 1e-6f), 0, layout);
                engine.ApplyWithNorm(table, bfloat16s.AsSpan(), shape, RopeHeadNorm.Rms(weights, 1e-6f), 0, layout);
                engine.ApplyWithNorm(table, halves.AsSpan(), shape, RopeHeadNorm.Rms(weights, 1e-6f), 0, layout);
                // The KV append into each cache type, from separate tensors and from a packed QKV row.
                Append<float>(engine, table, singles, shape, layout, weights);
                Append<BFloat16>(engine, table, bfloat16s, shape, layout, weights);
                Append<Half>(engine, table, halves, shape, layout, weights);
            }

            engine.ConvertToBFloat16(singles, bfloat16s);
            engine.ConvertToHalf(singles, halves);
            engine.ConvertToSingle(bfloat16s, singles);
            engine.ConvertToSingle(halves, singles);
        }
    }

    return 0;
}

static void Append<TElement>(RopeEngine engine, RopeTable table, TElement[] activations, RopeShape shape, RopeLayout layout, float[] weights)
    where TElement : unmanaged
{
    var keys = new TElement[shape.RequiredLength];
    var values = new TElement[shape.RequiredLength];
    var packing = new RopePackedQkv(shape.Tokens, shape.Heads, shape.Heads, shape.HeadDim);
    var qkv = new TElement[packing.RequiredLength];
    RopeHeadNorm norm = RopeHeadNorm.Rms(weights, 1e-6f);
    AppendInto(engine, table, activations, keys, values, shape, layout, norm, qkv, packing, new float[2 * shape.RequiredLength]);
    AppendInto(engine, table, activations, keys, values, shape, layout, norm, qkv, packing, new BFloat16[2 * shape.RequiredLength]);
    AppendInto(engine, table, activations, keys, values, shape, layout, norm, qkv, packing, new Half[2 * shape.RequiredLength]);
}

static void AppendInto<TElement, TCache>(RopeEngine engine, RopeTable table, TElement[] queries, TElement[] keys, TElement[] values, RopeShape shape,
    RopeLayout layout, RopeHeadNorm norm, TElement[] qkv, RopePackedQkv packing, TCache[] cacheMemory)
    where TElement : unmanaged
    where TCache : unmanaged
{
    int length = shape.RequiredLength;
    var cache = RopeKvCache<TCache>.PositionMajor(cacheMemory.AsSpan(0, length), cacheMemory.AsSpan(length, length), 1, shape.Tokens, shape.Heads,
        shape.HeadDim);
    engine.ApplyAndAppend(table, queries.AsSpan(), shape, keys, values, shape, cache, 0, layout);
    engine.ApplyAndAppend(table, queries.AsSpan(), shape, norm, keys, values, shape, norm, cache, 0, layout);
    engine.ApplyAndAppend(table, qkv.AsSpan(), packing, norm, norm, cache, 0, layout);
}

static int Check(string listing)
{
    string[] OptimizedTiers = ["(FullOpts)", "(Tier1)", "(Tier1-OSR)", "(Tier0-FullOpts)"];
    // One listing per driver method and tier (the optimized ones: Tier1, on-stack replacement, and full opts for
    // methods with stackalloc, which skip the instrumented tiers); the scalar path's "register" is a struct of two lanes whose helpers may stay
    // calls (it runs where intrinsics are off, and is not a vector loop).
    var methods = Regex.Split(listing, @"(?=^; Assembly listing for method )", RegexOptions.Multiline)
        .Where(text => text.StartsWith("; Assembly listing for method ", StringComparison.Ordinal))
        .Select(text => (Name: text[30..text.IndexOf('\n')].Trim(), Text: text))
        .Where(method => (method.Name.StartsWith("Rope.Simd.Drivers.", StringComparison.Ordinal) || method.Name.StartsWith("Rope.Simd.Rows.", StringComparison.Ordinal)
                || method.Name.StartsWith("Rope.Simd.Kernels.Norm.RmsNorm", StringComparison.Ordinal))
            && OptimizedTiers.Any(tier => method.Name.EndsWith(tier, StringComparison.Ordinal))
            && !method.Name.Contains("ScalarOps", StringComparison.Ordinal))
        .ToList();
    int failed = 0;
    foreach ((string name, string text) in methods)
    {
        // The exact fallbacks of the ranged kernels ("...Exactly") are out of line on purpose: they run only for blocks
        // with values outside the fast range.
        string[] calls = [.. Regex.Matches(text, @"call\s+\[(Rope\.Simd\.Kernels\.\S+)\]\s*$", RegexOptions.Multiline)
            .Select(match => match.Groups[1].Value).Where(call => !Regex.IsMatch(call, @":\w+Exactly[\[(]") && !IsTokenLoop(call)).Distinct()];
        if (calls.Length > 0)
        {
            failed++;
            Console.WriteLine($"FAIL {name}: calls {string.Join(", ", calls)}");
        }
    }

    // The loops the listing must hold, so the check cannot pass by seeing nothing.
    string[] families = ["ResidentRotation", "RotationDriver", "ConversionDriver", "NormalizedRotationDriver", "KvAppend", "NarrowedKeys", "RmsNorm", "RowReader"];
    int missing = 0;
    foreach (string family in families)
    {
        int count = methods.Count(method => method.Name.Contains($".{family}`", StringComparison.Ordinal) || method.Name.Contains($".{family}:", StringComparison.Ordinal));
        Console.WriteLine($"{family}: {count} optimized listings");
        if (count == 0)
        {
            missing++;
            Console.WriteLine($"FAIL no optimized listing of {family}");
        }
    }

    int total = methods.Count + missing;
    failed += missing;
    Console.WriteLine($"total: {total}, failed: {failed}, succeeded: {total - failed}, skipped: 0");
    return failed == 0 ? 0 : 1;
}

// The norm's loops over a token's heads (sums of squares, scales) are loops of their own, called once per token and
// checked as such; a call to them is not an ISA helper left out of a loop.
static bool IsTokenLoop(string call) => call.StartsWith("Rope.Simd.Kernels.Norm.RmsNorm", StringComparison.Ordinal);
