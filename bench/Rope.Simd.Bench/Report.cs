using System.Globalization;
using System.Text;
using ScottPlot;

namespace Rope.Simd.Bench;

/// <summary>
/// Merges every file in artifacts/results into artifacts/report.md and artifacts/report.png: the headline figures of
/// each machine or ISA level side by side, and a chart of % of the limit per case with one bar per result file. Also
/// refreshes the results table of docs/performance.md between its markers.
/// </summary>
internal static class Report
{
    private const string TableBegin = "<!-- results:begin -->", TableEnd = "<!-- results:end -->";

    /// <summary>The headline figures: a section prefix and a case, where {path} is each file's default path.</summary>
    private static readonly (string Label, string Section, string Case)[] Headlines =
    [
        ("float32 prefill, interleaved", "float32 prefill", "Rope.Simd {path} Interleaved"),
        ("float32 prefill, half-split", "float32 prefill", "Rope.Simd {path} HalfSplit"),
        ("float32 decode, interleaved", "float32 decode", "Rope.Simd {path} Interleaved"),
        ("float32 decode, half-split", "float32 decode", "Rope.Simd {path} HalfSplit"),
        ("float32 keys 4096 x 8 x 128 (16 MiB), interleaved", "float32 keys of a long prompt", "Rope.Simd {path} Interleaved"),
        ("float32 keys 4096 x 8 x 128 (16 MiB), half-split", "float32 keys of a long prompt", "Rope.Simd {path} HalfSplit"),
        ("bfloat16 prefill, interleaved", "bfloat16 prefill", "Rope.Simd {path} Interleaved"),
        ("bfloat16 prefill, half-split", "bfloat16 prefill", "Rope.Simd {path} HalfSplit"),
        ("float16 prefill, interleaved", "float16 prefill", "Rope.Simd {path} Interleaved"),
        ("float16 prefill, half-split", "float16 prefill", "Rope.Simd {path} HalfSplit"),
        ("ggml float32 prefill, mode 0", "float32 prefill", "ggml rope_ext_inplace mode 0 (Interleaved)"),
        ("ggml float32 prefill, mode 2", "float32 prefill", "ggml rope_ext_inplace mode 2 (HalfSplit)"),
        ("ggml float32 decode, mode 0", "float32 decode", "ggml rope_ext_inplace mode 0 (Interleaved)"),
        ("ggml float32 decode, mode 2", "float32 decode", "ggml rope_ext_inplace mode 2 (HalfSplit)"),
        ("ONNX Runtime float32 prefill, half-split", "float32 prefill", "ONNX Runtime RotaryEmbedding-23 (HalfSplit), out of place"),
        ("ONNX Runtime float32 decode, half-split", "float32 decode", "ONNX Runtime RotaryEmbedding-23 (HalfSplit), out of place"),
        ("float32 prefill on 2 threads, interleaved", "float32 prefill 512 x 32 x 128 on 2 threads", "Rope.Simd {path} Interleaved, 2 threads"),
        ("float32 prefill on 2 threads, half-split", "float32 prefill 512 x 32 x 128 on 2 threads", "Rope.Simd {path} HalfSplit, 2 threads"),
        ("ggml float32 prefill on 2 threads, mode 0", "float32 prefill 512 x 32 x 128 on 2 threads", "ggml rope_ext_inplace mode 0 (Interleaved), 2 threads"),
        ("ONNX Runtime float32 prefill on 2 threads, half-split", "float32 prefill 512 x 32 x 128 on 2 threads",
            "ONNX Runtime RotaryEmbedding-23 (HalfSplit), out of place, 2 threads"),
        ("q+k prefill 32+8 heads, table, half-split", "float32 prefill q+k", "Rope.Simd {path} HalfSplit, table"),
        ("q+k prefill 32+8 heads, rows computed per call", "float32 prefill q+k", "Rope.Simd {path} HalfSplit, rows computed per call"),
        ("q+k decode 32+8 heads, table, half-split", "float32 decode q+k", "Rope.Simd {path} HalfSplit, table"),
        ("q+k decode 32+8 heads, rows computed per call", "float32 decode q+k", "Rope.Simd {path} HalfSplit, rows computed per call"),
        ("q+k prefill, caller vLLM cos-sin rows, half-split", "float32 prefill q+k 512 x (32 + 8) x 128: the caller's", "Rope.Simd {path} HalfSplit, caller vLLM cos-sin rows"),
        ("q+k prefill, caller ONNX caches, half-split", "float32 prefill q+k 512 x (32 + 8) x 128: the caller's", "Rope.Simd {path} HalfSplit, caller cos and sin caches (ONNX)"),
        ("q+k prefill, int64 position ids, half-split", "float32 prefill q+k 512 x (32 + 8) x 128: the caller's", "Rope.Simd {path} HalfSplit, table, int64 position ids"),
        ("q+k prefill, a batch of 4 x 128, half-split", "float32 prefill q+k 512 x (32 + 8) x 128: the caller's", "Rope.Simd {path} HalfSplit, table, a batch of 4 x 128 in one call"),
        ("q+k decode, caller vLLM cos-sin rows, half-split", "float32 decode q+k 1 x (32 + 8) x 128 at position 511: the caller's", "Rope.Simd {path} HalfSplit, caller vLLM cos-sin rows"),
        ("QK norm + RoPE q+k prefill, one pass", "QK norm + RoPE, float32 prefill", "Rope.Simd {path} ApplyWithNorm, one pass"),
        ("QK norm + RoPE q+k prefill, norm pass then rotation", "QK norm + RoPE, float32 prefill", "two passes: TensorPrimitives RMS norm per head, then Rope.Simd Apply"),
        ("ggml QK norm + RoPE q+k prefill", "QK norm + RoPE, float32 prefill", "ggml rms_norm + mul + rope_ext mode 2 (HalfSplit), one graph per tensor"),
        ("QK norm + RoPE q+k decode, one pass", "QK norm + RoPE, float32 decode", "Rope.Simd {path} ApplyWithNorm, one pass"),
        ("QK norm + RoPE q+k decode, norm pass then rotation", "QK norm + RoPE, float32 decode", "two passes: TensorPrimitives RMS norm per head, then Rope.Simd Apply"),
        ("ggml QK norm + RoPE q+k decode", "QK norm + RoPE, float32 decode", "ggml rms_norm + mul + rope_ext mode 2 (HalfSplit), one graph per tensor"),
        ("RoPE + KV append prefill, bfloat16 cache, one call", "RoPE + KV append (LLaMA-3-8B), float32 prefill", "Rope.Simd {path} ApplyAndAppend, one pass, bfloat16 cache"),
        ("RoPE + KV append prefill, bfloat16 cache, separate calls", "RoPE + KV append (LLaMA-3-8B), float32 prefill", "separate calls: Apply, Convert k and v into the bfloat16 cache"),
        ("RoPE + KV append prefill, float16 cache, one call", "RoPE + KV append (LLaMA-3-8B), float32 prefill", "Rope.Simd {path} ApplyAndAppend, one pass, float16 cache"),
        ("ggml RoPE + KV append prefill, float16 cache", "RoPE + KV append (LLaMA-3-8B), float32 prefill", "ggml rope_ext q and k, cpy k and v into float16 cache views, one graph"),
        ("RoPE + KV append decode, bfloat16 cache, one call", "RoPE + KV append (LLaMA-3-8B), float32 decode", "Rope.Simd {path} ApplyAndAppend, one pass, bfloat16 cache"),
        ("RoPE + KV append decode, bfloat16 cache, separate calls", "RoPE + KV append (LLaMA-3-8B), float32 decode", "separate calls: Apply, Convert k and v into the bfloat16 cache"),
        ("ggml RoPE + KV append decode, float16 cache", "RoPE + KV append (LLaMA-3-8B), float32 decode", "ggml rope_ext q and k, cpy k and v into float16 cache views, one graph"),
        ("packed QKV, QK norm + RoPE + KV append prefill, bfloat16 cache, one call", "QK norm + RoPE + KV append from packed QKV (Qwen3-8B), float32 prefill", "Rope.Simd {path} ApplyAndAppend from packed QKV, one pass, bfloat16 cache"),
        ("packed QKV prefill, norm pass, rotation, conversions", "QK norm + RoPE + KV append from packed QKV (Qwen3-8B), float32 prefill", "separate calls: TensorPrimitives RMS norm per head, Apply, Convert k and v into the bfloat16 cache"),
        ("packed QKV prefill, ApplyWithNorm then conversions", "QK norm + RoPE + KV append from packed QKV (Qwen3-8B), float32 prefill", "two calls: Rope.Simd ApplyWithNorm on the packed QKV, then Convert k and v into the bfloat16 cache"),
        ("ggml packed QKV prefill, float16 cache", "QK norm + RoPE + KV append from packed QKV (Qwen3-8B), float32 prefill", "ggml rms_norm + mul + rope_ext on views of the packed QKV, cpy k and v into float16 cache views, one graph"),
        ("packed QKV, QK norm + RoPE + KV append decode, bfloat16 cache, one call", "QK norm + RoPE + KV append from packed QKV (Qwen3-8B), float32 decode", "Rope.Simd {path} ApplyAndAppend from packed QKV, one pass, bfloat16 cache"),
        ("packed QKV decode, norm pass, rotation, conversions", "QK norm + RoPE + KV append from packed QKV (Qwen3-8B), float32 decode", "separate calls: TensorPrimitives RMS norm per head, Apply, Convert k and v into the bfloat16 cache"),
        ("ggml packed QKV decode, float16 cache", "QK norm + RoPE + KV append from packed QKV (Qwen3-8B), float32 decode", "ggml rms_norm + mul + rope_ext on views of the packed QKV, cpy k and v into float16 cache views, one graph"),
        ("table building vs a MathF.SinCos loop", "table building", "MathF.SinCos loop on float32 angles"),
    ];

    /// <summary>
    /// The chart's groups: one case each, Rope.Simd's bar first and the peers doing the same work beside it (labels of
    /// <see cref="Headlines"/>). Table building is a speed-up, not a share of the limit, so it stays in the table.
    /// </summary>
    private static readonly (string Title, (string Implementation, string Headline)[] Bars)[] ChartGroups =
    [
        ("float32 prefill 512 × 32 × 128, interleaved pairs",
            [("Rope.Simd", "float32 prefill, interleaved"), ("ggml (llama.cpp), mode 0", "ggml float32 prefill, mode 0")]),
        ("float32 prefill 512 × 32 × 128, half-split pairs",
            [("Rope.Simd", "float32 prefill, half-split"), ("ggml (llama.cpp), mode 2", "ggml float32 prefill, mode 2"),
             ("ONNX Runtime", "ONNX Runtime float32 prefill, half-split")]),
        ("float32 decode 1 × 32 × 128, interleaved pairs",
            [("Rope.Simd", "float32 decode, interleaved"), ("ggml (llama.cpp), mode 0", "ggml float32 decode, mode 0")]),
        ("float32 decode 1 × 32 × 128, half-split pairs",
            [("Rope.Simd", "float32 decode, half-split"), ("ggml (llama.cpp), mode 2", "ggml float32 decode, mode 2"),
             ("ONNX Runtime", "ONNX Runtime float32 decode, half-split")]),
        ("float32 prefill on 2 threads, interleaved pairs",
            [("Rope.Simd", "float32 prefill on 2 threads, interleaved"), ("ggml (llama.cpp), mode 0", "ggml float32 prefill on 2 threads, mode 0")]),
        ("float32 prefill on 2 threads, half-split pairs",
            [("Rope.Simd", "float32 prefill on 2 threads, half-split"), ("ONNX Runtime", "ONNX Runtime float32 prefill on 2 threads, half-split")]),
        ("16-bit prefill 512 × 32 × 128, half-split pairs",
            [("Rope.Simd bfloat16", "bfloat16 prefill, half-split"), ("Rope.Simd float16", "float16 prefill, half-split")]),
        ("queries and keys, 32 + 8 heads, half-split pairs",
            [("Rope.Simd prefill, table", "q+k prefill 32+8 heads, table, half-split"),
             ("Rope.Simd prefill, rows per call", "q+k prefill 32+8 heads, rows computed per call"),
             ("Rope.Simd prefill, caller vLLM rows", "q+k prefill, caller vLLM cos-sin rows, half-split"),
             ("Rope.Simd prefill, batch of 4", "q+k prefill, a batch of 4 x 128, half-split"),
             ("Rope.Simd decode, table", "q+k decode 32+8 heads, table, half-split"),
             ("Rope.Simd decode, rows per call", "q+k decode 32+8 heads, rows computed per call"),
             ("Rope.Simd decode, caller vLLM rows", "q+k decode, caller vLLM cos-sin rows, half-split")]),
        ("QK norm + RoPE, queries and keys, 32 + 8 heads, half-split pairs",
            [("Rope.Simd prefill, one pass", "QK norm + RoPE q+k prefill, one pass"),
             ("prefill, norm pass then Rope.Simd", "QK norm + RoPE q+k prefill, norm pass then rotation"),
             ("ggml (llama.cpp) prefill", "ggml QK norm + RoPE q+k prefill"),
             ("Rope.Simd decode, one pass", "QK norm + RoPE q+k decode, one pass"),
             ("decode, norm pass then Rope.Simd", "QK norm + RoPE q+k decode, norm pass then rotation"),
             ("ggml (llama.cpp) decode", "ggml QK norm + RoPE q+k decode")]),
    ];

    /// <summary>
    /// Writes report.md and report.png into <paramref name="outputDirectory"/> (artifacts/ by default, where the table
    /// in docs/performance.md is refreshed too).
    /// </summary>
    public static void Write(TextWriter output, string? outputDirectory = null)
    {
        List<ResultFile> files = ResultFile.LoadAll();
        if (files.Count == 0)
        {
            output.WriteLine($"No results in {ResultFile.Directory}: run the quick comparison first.");
            return;
        }

        string artifacts = Path.GetDirectoryName(ResultFile.Directory)!;
        string destination = outputDirectory ?? artifacts;
        Directory.CreateDirectory(destination);
        string table = Table(files);
        var markdown = new StringBuilder();
        markdown.AppendLine("# Rope.Simd results across machines and ISA levels");
        markdown.AppendLine();
        markdown.AppendLine("Generated by `dotnet run -c Release --project bench/Rope.Simd.Bench -- report` from every file in");
        markdown.AppendLine("`artifacts/results/`. Each column is one run: % of the same-bytes limit measured in that run, the fastest of");
        markdown.AppendLine("several read-modify-write loops over the same bytes (on one thread, or on 2 threads against the 2-thread limit where");
        markdown.AppendLine("the row says so), 32 heads of 128 (prefill 512 tokens, decode 1 token; q+k rows add 8 key heads); in brackets,");
        markdown.AppendLine("Rope.Simd's speed-up over that peer. Columns marked * were measured against the earlier, single limit loop");
        markdown.AppendLine("(one vector per iteration), which streams up to a third slower than the fastest loop on some CPUs, so their");
        markdown.AppendLine("percentages read high.");
        markdown.AppendLine();
        markdown.Append(table);
        markdown.AppendLine();
        foreach (ResultFile file in files)
        {
            markdown.AppendLine($"- `{file.Machine.Id}`: {file.Machine.Describe()}; measured {file.Measured:yyyy-MM-dd}.");
        }

        markdown.AppendLine();
        markdown.AppendLine("![% of the limit per case, Rope.Simd beside ggml and ONNX Runtime, one bar per run](report.png)");
        File.WriteAllText(Path.Combine(destination, "report.md"), markdown.ToString());
        string chart = Path.Combine(destination, "report.png");
        Chart(files, chart);
        output.WriteLine($"Wrote {Path.Combine(destination, "report.md")} and {chart} from {files.Count} result files.");

        string page = Path.Combine(Path.GetDirectoryName(artifacts)!, "docs", "performance.md");
        if (outputDirectory is null && File.Exists(page))
        {
            string text = File.ReadAllText(page);
            int begin = text.IndexOf(TableBegin, StringComparison.Ordinal), end = text.IndexOf(TableEnd, StringComparison.Ordinal);
            if (begin >= 0 && end > begin)
            {
                File.WriteAllText(page, text[..(begin + TableBegin.Length)] + "\n" + table + text[end..]);
                output.WriteLine($"Refreshed the results table in {page}.");
            }
        }
    }

    private static string Table(List<ResultFile> files)
    {
        var table = new StringBuilder();
        // The brand string alone names different CPUs alike ("AMD EPYC" is Zen 3, 4 and 5): the family and model tell them apart.
        table.AppendLine($"| % of limit | {string.Join(" | ", files.Select(f => $"{f.Machine.Cpu} ({f.Machine.CpuFamily}) {f.Machine.DefaultPath}{(UsesSingleLimitLoop(f) ? "*" : "")}"))} |");
        table.AppendLine($"|---|{string.Concat(files.Select(_ => "---:|"))}");
        foreach ((string label, string section, string caseName) in Headlines)
        {
            table.AppendLine($"| {label} | {string.Join(" | ", files.Select(f => Cell(Find(f, section, caseName))))} |");
        }

        return table.ToString();
    }

    /// <summary>Whether a run predates the fastest-of-several limit (its limit rows name the one loop it had).</summary>
    private static bool UsesSingleLimitLoop(ResultFile file) =>
        file.Rows.Any(row => row.Case.StartsWith("limit: in-place read-modify-write", StringComparison.Ordinal));

    private static ResultRow? Find(ResultFile file, string section, string caseName) =>
        file.Rows.FirstOrDefault(row => row.Section.StartsWith(section, StringComparison.Ordinal)
            && row.Case == caseName.Replace("{path}", file.Machine.DefaultPath, StringComparison.Ordinal));

    private static string Cell(ResultRow? row) => row switch
    {
        null => "n/a",
        { SpeedUp: double speedUp } when double.IsNaN(row.PercentOfLimit) => string.Create(CultureInfo.InvariantCulture, $"({speedUp:F1}x)"),
        { SpeedUp: double speedUp } => string.Create(CultureInfo.InvariantCulture, $"{row.PercentOfLimit:F0}% ({speedUp:F1}x)"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{row.PercentOfLimit:F0}%"),
    };

    /// <summary>
    /// Horizontal bars of % of the limit: one group per case with Rope.Simd's row first and the peers' rows below it,
    /// one bar per result file in each row (the legend names the CPU and path), a labelled axis with gridlines.
    /// </summary>
    private static void Chart(List<ResultFile> files, string path)
    {
        Color[] palette = [Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#d62728"),
            Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#7f7f7f")];
        const double BarSize = 1, RowGap = 0.7, GroupGap = 3;
        var plot = new Plot();
        UseInstalledFont(plot);
        var bars = new List<Bar>();
        var tickPositions = new List<double>();
        var tickLabels = new List<string>();
        double y = 0;
        foreach ((string title, (string implementation, string headline)[] rows) in ChartGroups)
        {
            y -= GroupGap;
            var heading = plot.Add.Text(title, 0, y + 0.6);
            heading.LabelFontSize = 15;
            heading.LabelBold = true;
            heading.LabelAlignment = Alignment.LowerLeft;
            foreach ((string implementation, string headline) in rows)
            {
                (string _, string section, string caseName) = Headlines.Single(h => h.Label == headline);
                double rowTop = y;
                for (int f = 0; f < files.Count; f++)
                {
                    y -= BarSize;
                    ResultRow? row = Find(files[f], section, caseName);
                    if (row is null || double.IsNaN(row.PercentOfLimit))
                    {
                        continue;
                    }

                    bars.Add(new Bar
                    {
                        Position = y + BarSize / 2,
                        Value = row.PercentOfLimit,
                        Size = BarSize * 0.86,
                        FillColor = palette[f % palette.Length],
                        LineWidth = 0,
                        Label = Cell(row),
                        Orientation = Orientation.Horizontal,
                    });
                }

                tickPositions.Add((rowTop + y) / 2);
                tickLabels.Add(implementation);
                y -= RowGap;
            }
        }

        ScottPlot.Plottables.BarPlot barPlot = plot.Add.Bars(bars);
        barPlot.ValueLabelStyle.FontSize = 11;
        var full = plot.Add.VerticalLine(100);
        full.LineColor = Colors.Black.WithAlpha(0.5);
        full.LinePattern = LinePattern.Dashed;
        full.Text = "limit";

        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. tickPositions], [.. tickLabels]);
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.Left.TickLabelStyle.FontSize = 13;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(10);
        plot.Axes.Bottom.TickLabelStyle.FontSize = 12;
        plot.Axes.SetLimits(0, 125, y - 0.5, 0.5);
        plot.Grid.YAxisStyle.IsVisible = false;
        plot.Grid.XAxisStyle.MajorLineStyle.Color = Colors.Black.WithAlpha(0.12);
        plot.Title("Rope.Simd beside ggml and ONNX Runtime: throughput as % of the memory limit");
        plot.Axes.Title.Label.FontSize = 18;
        plot.XLabel("% of the same-bytes read-modify-write loop measured in the same run (higher is better; in brackets Rope.Simd's speed-up over the peer)");
        plot.Axes.Bottom.Label.FontSize = 13;
        foreach ((ResultFile file, int f) in files.Select((file, f) => (file, f)))
        {
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = $"{file.Machine.Cpu} ({file.Machine.CpuFamily}), {file.Machine.DefaultPath}, {file.Machine.Cores} cores",
                FillColor = palette[f % palette.Length],
            });
        }

        plot.Legend.FontSize = 13;
        plot.ShowLegend(Edge.Bottom);
        int rowsDrawn = ChartGroups.Sum(group => group.Bars.Length);
        int height = (int)(-y * 12) + 260;
        plot.SavePng(path, 1400, Math.Max(height, 40 * rowsDrawn));
    }

    /// <summary>Uses DejaVu Sans where the system has it, so labels render without fontconfig.</summary>
    private static void UseInstalledFont(Plot plot)
    {
        const string DejaVu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", DejaVuBold = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
        if (File.Exists(DejaVu))
        {
            Fonts.AddFontFile("DejaVu Sans", DejaVu, bold: false, italic: false);
            if (File.Exists(DejaVuBold))
            {
                Fonts.AddFontFile("DejaVu Sans", DejaVuBold, bold: true, italic: false);
            }

            plot.Font.Set("DejaVu Sans");
        }
    }
}
