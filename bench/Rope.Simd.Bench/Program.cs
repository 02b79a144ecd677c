using Rope.Simd.Bench;

// No arguments: the quick comparison on this CPU, saved to artifacts/results. "report": merge every saved result
// into artifacts/report.md, report.svg and the README's table. "--no-save": the quick comparison only. "--full": the
// BenchmarkDotNet suite (further arguments go to BenchmarkDotNet), written to artifacts/full.
switch (args)
{
    case ["report"]:
        Report.Write(Console.Out);
        break;
    case ["--full", .. var benchmarkArguments]:
        FullSuite.Run(benchmarkArguments);
        break;
    case [] or ["--no-save"]:
        var markdown = new StringWriter();
        var both = new TeeWriter(Console.Out, markdown);
        Fingerprint machine = Fingerprint.Capture();
        both.WriteLine($"Rope.Simd quick run on {machine.Describe()}");
        List<ResultRow> rows = QuickRun.Run(both);
        if (args.Length == 0)
        {
            string saved = new ResultFile(machine, DateTimeOffset.UtcNow, rows).Save(markdown.ToString());
            Console.WriteLine($"\nSaved {saved} (and .md); `-- report` merges every saved run.");
        }

        break;
    default:
        Console.Error.WriteLine("usage: Rope.Simd.Bench [--no-save | report | --full [BenchmarkDotNet arguments]]");
        return 2;
}

return 0;
