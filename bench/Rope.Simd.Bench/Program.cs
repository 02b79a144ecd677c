using Rope.Simd.Bench;

// No arguments: the quick comparison on this CPU, saved to artifacts/results. "report": merge every saved result
// into artifacts/report.md, report.png and the table in docs/performance.md. "--no-save": the quick comparison only. "fingerprint": what a result file would say about this machine. "--full": the
// BenchmarkDotNet suite (further arguments go to BenchmarkDotNet), written to artifacts/full.
switch (args)
{
    case ["report"]:
        Report.Write(Console.Out);
        break;
    case ["report", "--output", var outputDirectory]:
        Report.Write(Console.Out, outputDirectory);
        break;
    case ["fingerprint"]:
        Console.WriteLine($"{Fingerprint.Capture().Describe()}; CPU named by {CpuIdentity.Capture().Source}");
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
        Console.Error.WriteLine("usage: Rope.Simd.Bench [--no-save | report [--output DIR] | fingerprint | --full [BenchmarkDotNet arguments]]");
        return 2;
}

return 0;
