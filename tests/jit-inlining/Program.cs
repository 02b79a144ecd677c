using System.Text.RegularExpressions;
using Rope.Simd;

// "exercise": runs every rotation and conversion loop of every vector path once. "check LISTING": reads the listing the JIT wrote meanwhile (DOTNET_JitDisasm, DOTNET_JitStdOutFile) and
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
        var table = RopeTable.Create(rotaryDim, 64);
        var shape = new RopeShape(64, 4, rotaryDim);
        var singles = new float[shape.RequiredLength];
        var bfloat16s = new BFloat16[shape.RequiredLength];
        var halves = new Half[shape.RequiredLength];
        // One call each compiles every loop (run.sh turns tiering off, so the first compile is the optimized one).
        foreach (RopeEngine engine in RopeEngine.Supported.Where(engine => engine.Path != RopePath.Scalar))
        {
            foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
            {
                engine.Apply(table, singles.AsSpan(), shape, 0, layout);
                engine.Apply(table, bfloat16s.AsSpan(), shape, 0, layout);
                engine.Apply(table, halves.AsSpan(), shape, 0, layout);
                // QK norm + rotation: the norm is applied inside the same register-resident loops.
                var weights = new float[rotaryDim];
                engine.ApplyWithNorm(table, singles.AsSpan(), shape, RopeHeadNorm.Rms(weights, 1e-6f), 0, layout);
                engine.ApplyWithNorm(table, bfloat16s.AsSpan(), shape, RopeHeadNorm.Rms(weights, 1e-6f), 0, layout);
                engine.ApplyWithNorm(table, halves.AsSpan(), shape, RopeHeadNorm.Rms(weights, 1e-6f), 0, layout);
            }

            engine.ConvertToBFloat16(singles, bfloat16s);
            engine.ConvertToHalf(singles, halves);
            engine.ConvertToSingle(bfloat16s, singles);
            engine.ConvertToSingle(halves, singles);
        }
    }

    return 0;
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
        .Where(method => method.Name.StartsWith("Rope.Simd.Drivers.", StringComparison.Ordinal) && OptimizedTiers.Any(tier => method.Name.EndsWith(tier, StringComparison.Ordinal))
            && !method.Name.Contains("ScalarOps", StringComparison.Ordinal))
        .ToList();
    int failed = 0;
    foreach ((string name, string text) in methods)
    {
        // The exact fallbacks of the ranged kernels ("...Exactly") are out of line on purpose: they run only for blocks
        // with values outside the fast range.
        string[] calls = [.. Regex.Matches(text, @"call\s+\[(Rope\.Simd\.Kernels\.\S+)\]\s*$", RegexOptions.Multiline)
            .Select(match => match.Groups[1].Value).Where(call => !Regex.IsMatch(call, @":\w+Exactly[\[(]")).Distinct()];
        if (calls.Length > 0)
        {
            failed++;
            Console.WriteLine($"FAIL {name}: calls {string.Join(", ", calls)}");
        }
    }

    // The loops the listing must hold, so the check cannot pass by seeing nothing.
    string[] families = ["ResidentRotation", "RotationDriver", "ConversionDriver"];
    int missing = 0;
    foreach (string family in families)
    {
        int count = methods.Count(method => method.Name.Contains($"Drivers.{family}`", StringComparison.Ordinal));
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
