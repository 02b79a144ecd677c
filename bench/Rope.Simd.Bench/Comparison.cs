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
/// A group of cases over the same elements, measured round-robin with the bandwidth limit for the same bytes, so
/// drift on a shared machine hits every case alike; reported as ns/element, % of the limit, Rope.Simd's speed-up
/// over each peer and the largest error. A limit call may stream the bytes several times (<paramref name="limitPasses"/>).
/// </summary>
internal sealed class Comparison(string title, int elements, Action limit, int limitPasses = 1)
{
    private const int Rounds = 15;
    private readonly List<Case> cases = [];

    public string Title => title;

    public void Add(Case measured) => cases.Add(measured);

    public List<ResultRow> Run(TextWriter output)
    {
        // About 2 ms per sample whatever the size: a decode call is a few hundred nanoseconds, a prefill a few hundred microseconds.
        int repetitions = Math.Max(10, 30_000_000 / elements);
        List<(string Name, Action Body)> timed = [("limit: in-place read-modify-write, same bytes", limit), .. cases.Select(c => (c.Name, c.Body))];
        double[] medians = MeasureInterleaved(timed, repetitions);
        medians[0] /= limitPasses;

        var rows = new List<ResultRow> { new(title, timed[0].Name, medians[0] / elements, 100, null, "") };
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
