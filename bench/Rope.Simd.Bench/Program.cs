using Rope.Simd.Bench;

// No arguments: the quick comparison on this CPU, saved to artifacts/results. "report": merge every saved result
// into artifacts/report.md, report.png and the table in docs/performance.md. "--no-save": the quick comparison only. "fingerprint": what a result file would say about this machine. "--full": the
// BenchmarkDotNet suite (further arguments go to BenchmarkDotNet), written to artifacts/full. "decoder": the decoder sample
// against llama.cpp (tokens/s and Rope.Simd's share), saved to artifacts/decoder.
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
    case ["decoder", .. var decoderArguments] when decoderArguments is [] or ["--no-save"]:
        var table = new StringWriter();
        Fingerprint host = Fingerprint.Capture();
        var tee = new TeeWriter(Console.Out, table);
        tee.WriteLine($"Decoder sample on {host.Describe()}");
        DecoderRun.Run(tee);
        if (decoderArguments.Length == 0)
        {
            string folder = Path.Combine(Path.GetDirectoryName(ResultFile.Directory)!, "decoder");
            Directory.CreateDirectory(folder);
            string file = Path.Combine(folder, host.Id + ".md");
            File.WriteAllText(file, $"# Decoder sample vs llama.cpp: {host.Id}\n\nMeasured {DateTimeOffset.UtcNow:yyyy-MM-dd}.\n\n{table}");
            Console.WriteLine($"\nSaved {file}");
        }

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
        Console.Error.WriteLine("usage: Rope.Simd.Bench [--no-save | report [--output DIR] | fingerprint | decoder [--no-save] | --full [BenchmarkDotNet arguments]]");
        return 2;
}

return 0;
