using System.Runtime.InteropServices;
namespace Rope.Simd.Bench;

// Sections for runtimes that embed Rope.Simd: prefill on two threads, and rotation with rows computed per call.
internal static partial class QuickRun
{
    private const int Threads = 2, KeyHeads = 8, LimitPasses = 8;

    /// <summary>
    /// float32 prefill on <see cref="Threads"/> threads against the limit loop on as many threads (each streams its half
    /// of the buffer eight times per start, so thread start-up hardly counts), the same engine on one thread, and ggml and
    /// ONNX Runtime on two threads.
    /// </summary>
    private static Comparison TwoThreads(RopeTable table)
    {
        var shape = new RopeShape(PrefillTokens, Heads, HeadDim);
        int elements = shape.RequiredLength;
        float[] input = RandomActivations(elements, seed: 3);
        var expected = Expected(input, PrefillTokens, 0, table);
        var buffer = new AlignedBuffer(elements);
        input.CopyTo(buffer.Span);
        var comparison = new Comparison($"float32 prefill {PrefillTokens} x {Heads} x {HeadDim} on {Threads} threads", elements,
            BandwidthLimit.VariantsOnThreads(buffer, BandwidthLimit.Operation.MultiplyAdd, Threads, LimitPasses), LimitPasses);
        RopeEngine parallel = RopeEngine.Default.WithParallelism(Threads);

        string Check(Action rotate, RopeLayout layout)
        {
            input.CopyTo(buffer.Span);
            rotate();
            return Errors.Single(input, buffer.Span, expected[layout], HeadDim, layout);
        }

        string Baseline(RopeLayout layout) => $"Rope.Simd {parallel.Path} {layout}, {Threads} threads";
        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void Rotate() => parallel.Apply(table, buffer.Span, shape, 0, layout);
            comparison.Add(new(Baseline(layout), Rotate, () => Check(Rotate, layout)));
        }

        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void Rotate() => RopeEngine.Default.Apply(table, buffer.Span, shape, 0, layout);
            comparison.Add(new($"Rope.Simd {RopeEngine.Default.Path} {layout}, 1 thread", Rotate, () => Check(Rotate, layout), Baseline(layout)));
        }

        int widest = BandwidthLimit.Widths()[0];
        Action<Span<float>> oneThread = BandwidthLimit.Loop(BandwidthLimit.Operation.MultiplyAdd, widest, 4);
        comparison.Add(new($"limit loop on 1 thread (Vector{widest} x4)", () => oneThread(buffer.Span), () => ""));
        AddFloatPeers(comparison, table, PrefillTokens, 0, input, expected, buffer, Baseline, Threads);

        return comparison;
    }

    /// <summary>
    /// Queries and keys in one call (LLaMA-3-8B: 32 query and 8 key heads of 128), rows read from a table against rows
    /// computed per call from the frequencies; the limit streams the same query and key bytes.
    /// </summary>
    private static Comparison RowsComputedPerCall(RopeTable table, int tokens, int start)
    {
        var call = new QueriesAndKeys(table, tokens, start, seed: 4, "table vs rows computed per call");
        RopeEngine engine = RopeEngine.Default;
        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void FromTable() => engine.Apply(table, call.Queries, call.QueryShape, call.Keys, call.KeyShape, start, layout);
            void Computed() => engine.Apply(table.Frequencies, call.Queries, call.QueryShape, call.Keys, call.KeyShape, start, layout);
            call.Comparison.Add(new($"Rope.Simd {engine.Path} {layout}, table", FromTable, () => call.Check(FromTable, layout)));
            call.Comparison.Add(new($"Rope.Simd {engine.Path} {layout}, rows computed per call", Computed, () => call.Check(Computed, layout)));
        }

        return call.Comparison;
    }

    /// <summary>
    /// Queries and keys in one call (32 + 8 heads of 128) with every source of rows and form of positions a runtime
    /// brings, against the table path on the same bytes: the caller's cos/sin cache in vLLM's [cos | sin] rows, ONNX's
    /// two caches, interleaved rows and bfloat16 [cos | sin] rows; int64 against int32 position ids; and the same tokens
    /// as a batch of 4 sequences in one call.
    /// </summary>
    private static Comparison CallerRowsAndBatches(RopeTable table, int tokens, int start)
    {
        var call = new QueriesAndKeys(table, tokens, start, seed: 5,
            tokens == 1 ? "the caller's rows and positions" : "the caller's rows, positions and batches");
        RopeEngine engine = RopeEngine.Default;

        // The table's rows exported once into the layouts other runtimes keep, 64-byte aligned as torch and ONNX Runtime
        // allocate them (a cache 4 bytes off a cache line splits every row load in two).
        int rotaryDim = table.RotaryDim, positions = table.PositionCount;
        var cosThenSin = new AlignedBuffer(positions * rotaryDim);
        var cos = new AlignedBuffer(positions * rotaryDim / 2);
        var sin = new AlignedBuffer(positions * rotaryDim / 2);
        var interleaved = new AlignedBuffer(positions * rotaryDim);
        var cosThenSin16 = new AlignedBuffer(positions * rotaryDim / 2);
        RopeTableFormats.ToCosThenSin(table.Rows, rotaryDim, cosThenSin.Span);
        RopeTableFormats.ToCosAndSin(table.Rows, rotaryDim, cos.Span, sin.Span);
        table.Rows.CopyTo(interleaved.Span);
        Span<BFloat16> narrowed = MemoryMarshal.Cast<float, BFloat16>(cosThenSin16.Span);
        for (int i = 0; i < narrowed.Length; i++)
        {
            narrowed[i] = (BFloat16)cosThenSin.Span[i];
        }

        int[] ids = [.. Enumerable.Range(start, tokens)];
        long[] longIds = [.. ids.Select(id => (long)id)];
        int batch = tokens % 4 == 0 ? 4 : 1;
        var batchedQueries = RopeShape.Bshd(batch, tokens / batch, Heads, HeadDim);
        var batchedKeys = RopeShape.Bshd(batch, tokens / batch, KeyHeads, HeadDim);
        int[] starts = [.. Enumerable.Range(0, batch).Select(sequence => start + sequence * (tokens / batch))];

        foreach (RopeLayout layout in Enum.GetValues<RopeLayout>())
        {
            void Rows(RopeRows rows, RopePositions at) => engine.Apply(rows, call.Queries, call.QueryShape, call.Keys, call.KeyShape, at, layout);
            void Add(string name, Action rotate) => call.Comparison.Add(new($"Rope.Simd {engine.Path} {layout}, {name}", rotate, () => call.Check(rotate, layout)));

            Add("table", () => Rows(table, start));
            Add("caller vLLM cos-sin rows", () => Rows(RopeRows.CosThenSin<float>(cosThenSin.Span, rotaryDim), start));
            Add("caller cos and sin caches (ONNX)", () => Rows(RopeRows.Separate<float>(cos.Span, sin.Span, rotaryDim), start));
            Add("caller interleaved rows", () => Rows(RopeRows.Interleaved<float>(interleaved.Span, rotaryDim), start));
            Add("caller bfloat16 vLLM cos-sin rows", () => Rows(RopeRows.CosThenSin<BFloat16>(MemoryMarshal.Cast<float, BFloat16>(cosThenSin16.Span), rotaryDim), start));
            Add("table, int32 position ids", () => Rows(table, ids));
            Add("table, int64 position ids", () => Rows(table, longIds));
            if (batch > 1)
            {
                Add($"table, a batch of {batch} x {tokens / batch} in one call",
                    () => engine.Apply(table, call.Queries, batchedQueries, call.Keys, batchedKeys, RopePositions.Sequential(starts), layout));
            }
        }

        return call.Comparison;
    }

    /// <summary>
    /// Queries and keys of one call (32 query and 8 key heads of 128) in one buffer, with their double-reference results
    /// and a comparison whose limit streams the same bytes; <see cref="Check"/> restores the input, rotates and measures
    /// the error.
    /// </summary>
    private sealed class QueriesAndKeys
    {
        private readonly float[] input;
        private readonly Dictionary<RopeLayout, double[]> expected;
        private readonly AlignedBuffer buffer;
        private readonly int queryElements;

        public QueriesAndKeys(RopeTable table, int tokens, int start, int seed, string what)
        {
            QueryShape = new RopeShape(tokens, Heads, HeadDim);
            KeyShape = new RopeShape(tokens, KeyHeads, HeadDim);
            queryElements = QueryShape.RequiredLength;
            int elements = queryElements + KeyShape.RequiredLength;
            input = RandomActivations(elements, seed);
            Dictionary<RopeLayout, double[]> queryExpected = Expected(input[..queryElements], tokens, start, table);
            Dictionary<RopeLayout, double[]> keyExpected = Expected(input[queryElements..], tokens, start, table, KeyHeads);
            expected = Enum.GetValues<RopeLayout>().ToDictionary(layout => layout, layout => (double[])[.. queryExpected[layout], .. keyExpected[layout]]);
            buffer = new AlignedBuffer(elements);
            input.CopyTo(buffer.Span);
            string title = tokens == 1
                ? $"float32 decode q+k 1 x ({Heads} + {KeyHeads}) x {HeadDim} at position {start}: {what}"
                : $"float32 prefill q+k {tokens} x ({Heads} + {KeyHeads}) x {HeadDim}: {what}";
            Comparison = Comparison.OverBuffer(title, elements, buffer, BandwidthLimit.Operation.MultiplyAdd);
        }

        public RopeShape QueryShape { get; }

        public RopeShape KeyShape { get; }

        public Comparison Comparison { get; }

        public Span<float> Queries => buffer.Span[..queryElements];

        public Span<float> Keys => buffer.Span[queryElements..];

        public string Check(Action rotate, RopeLayout layout)
        {
            input.CopyTo(buffer.Span);
            rotate();
            return Errors.Single(input, buffer.Span, expected[layout], HeadDim, layout);
        }
    }
}
