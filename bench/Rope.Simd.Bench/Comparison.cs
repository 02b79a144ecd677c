using System.Diagnostics;

namespace Rope.Simd.Bench;

/// <summary>One measured case of a section.</summary>
/// <param name="Name">What ran.</param>
/// <param name="Body">One call: the work timed.</param>
/// <param name="Error">Resets the input, runs once more and describes the largest error against the reference.</param>
/// <param name="Baseline">For a peer, the Rope.Simd case doing the same work: its speed-up over this peer is reported.</param>
internal sealed record Case(string Name, Action Body, Func<string> Error, string? Baseline = null);

/// <summary>A row of the results: times are medians of interleaved rounds measured in one process.</summary>
internal sealed record ResultRow(string Section, string Case, double NanosecondsPerElement, double PercentOfLimit, double? SpeedUp, string Error);

/// <summary>
/// A group of cases over the same elements, measured round-robin with the same-bytes limit loops, so drift on a
/// shared machine hits every case alike; reported as ns/element, % of the limit, Rope.Simd's speed-up over each peer
/// and the largest error. The limit is the fastest of <paramref name="limits"/> in this run (a limit call may stream
/// the bytes several times: <paramref name="limitPasses"/>); <paramref name="streams"/> are reported beside it for
/// context (a read-only and a write-only pass over the same bytes).
/// </summary>
internal sealed class Comparison(string title, int elements, IReadOnlyList<(string Name, Action Loop)> limits, int limitPasses = 1,
    IReadOnlyList<(string Name, Action Loop)>? streams = null)
{
    private const int Rounds = 15;
    private readonly List<Case> cases = [];

    /// <summary>A section over one buffer: every limit variant and both context streams of it.</summary>
    public static Comparison OverBuffer(string title, int elements, AlignedBuffer buffer, BandwidthLimit.Operation operation) =>
        new(title, elements, BandwidthLimit.Variants(buffer, operation), 1, BandwidthLimit.Streams(buffer));

    public string Title => title;

    public void Add(Case measured) => cases.Add(measured);

    public List<ResultRow> Run(TextWriter output)
    {
        // About 2 ms per sample whatever the size: a decode call is a few hundred nanoseconds, a prefill a few hundred microseconds.
        int repetitions = Math.Max(10, 30_000_000 / elements);
        IReadOnlyList<(string Name, Action Loop)> context = streams ?? [];
        List<(string Name, Action Body)> timed = [.. limits, .. context, .. cases.Select(c => (c.Name, c.Body))];
        double[] all = MeasureInterleaved(timed, repetitions);
        int fastest = Enumerable.Range(0, limits.Count).MinBy(i => all[i]);
        string limitName = $"limit: fastest of {limits.Count} same-bytes read-modify-write loops ({limits[fastest].Name}, loads first)";
        double[] medians = [all[fastest] / limitPasses, .. all[(limits.Count + context.Count)..]];

        var rows = new List<ResultRow> { new(title, limitName, medians[0] / elements, 100, null, "") };
        for (int i = 0; i < context.Count; i++)
        {
            double median = all[limits.Count + i];
            rows.Add(new(title, $"context: {context[i].Name}", median / elements, 100 * medians[0] / median, null, ""));
        }

        for (int i = 0; i < cases.Count; i++)
        {
            Case measured = cases[i];
            double? speedUp = measured.Baseline is null ? null : medians[i + 1] / medians[1 + cases.FindIndex(c => c.Name == measured.Baseline)];
            rows.Add(new(title, measured.Name, medians[i + 1] / elements, 100 * medians[0] / medians[i + 1], speedUp, measured.Error()));
        }

        output.WriteLine();
        output.WriteLine($"### {title}");
        output.WriteLine();
        output.WriteLine("| case | ns/element | % of limit | Rope.Simd speed-up | max error |");
        output.WriteLine("|---|---:|---:|---:|---|");
        foreach (ResultRow row in rows)
        {
            string speedUp = row.SpeedUp is double s ? $"{s:F1}x" : "";
            output.WriteLine($"| {row.Case} | {row.NanosecondsPerElement:F4} | {row.PercentOfLimit:F0}% | {speedUp} | {row.Error} |");
        }

        return rows;
    }

    private static double[] MeasureInterleaved(List<(string Name, Action Body)> timed, int repetitions)
    {
        foreach ((_, Action body) in timed)
        {
            for (int i = 0; i < Math.Min(repetitions, 200); i++)
            {
                body();
            }
        }

        var samples = new double[timed.Count, Rounds];
        for (int round = 0; round < Rounds; round++)
        {
            for (int c = 0; c < timed.Count; c++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < repetitions; i++)
                {
                    timed[c].Body();
                }

                samples[c, round] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / repetitions;
            }
        }

        return [.. Enumerable.Range(0, timed.Count).Select(c => Enumerable.Range(0, Rounds).Select(r => samples[c, r]).Order().ElementAt(Rounds / 2))];
    }
}
