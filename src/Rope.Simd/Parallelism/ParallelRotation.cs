using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Rope.Simd.Drivers;

namespace Rope.Simd.Parallelism;

/// <summary>
/// A call whose work is cut into chunks that the calling thread and thread-pool helpers claim one at a time.
/// </summary>
/// <remarks>
/// <para>Jobs and helpers are pooled, so a steady stream of calls allocates nothing. The caller publishes its job on a
/// small board and queues helpers (at most one queued item per helper); a helper that runs scans the board and joins
/// whatever job still has chunks, so a helper that starts late never holds anything up and never piles up work items.
/// The caller waits until every chunk is done, never for a helper to start.</para>
/// <para>A helper must take a reference before touching a job and can only take one while the job is live
/// (references above zero); whoever drops the last reference returns the job to its pool, so a job is never reset
/// while anyone can still touch it. Claiming chunks with one atomic counter keeps a helper that joins a reused job
/// correct: it simply helps that call.</para>
/// </remarks>
internal abstract class ParallelJob
{
    private static readonly ParallelJob?[] Board = new ParallelJob?[Math.Max(8, 2 * Environment.ProcessorCount)];
    private static readonly Helper[] Helpers = CreateHelpers();

    private readonly ManualResetEventSlim allChunksDone = new(initialState: false);
    private static long chunksRunByHelpers;

    private ExceptionDispatchInfo? failure;
    private int chunkCount, nextChunk, finishedChunks, references;

    /// <summary>Jobs published on the board now (for tests: a finished call leaves none behind).</summary>
    internal static int PublishedJobs
    {
        get
        {
            int published = 0;
            for (int slot = 0; slot < Board.Length; slot++)
            {
                published += Volatile.Read(ref Board[slot]) is null ? 0 : 1;
            }

            return published;
        }
    }

    /// <summary>Chunks thread-pool helpers have run so far (for tests: shows that helpers took part in the calls measured).</summary>
    internal static long ChunksRunByHelpers => Interlocked.Read(ref chunksRunByHelpers);

    /// <summary>
    /// Runs chunks [0, chunks) on up to <paramref name="workers"/> threads, the caller included, and returns when all are
    /// done. It never returns or throws while a helper can still touch the call's memory, and the job leaves the board
    /// and goes back to its pool on every path.
    /// </summary>
    protected void Execute(int chunks, int workers)
    {
        chunkCount = chunks;
        nextChunk = 0;
        finishedChunks = 0;
        failure = null;
        allChunksDone.Reset();
        Volatile.Write(ref references, 1);
        int slot = Publish();
        ExceptionDispatchInfo? failed;
        try
        {
            RequestHelpers(workers - 1);
        }
        finally
        {
            // Whatever happened above, the caller claims every chunk left and waits for those helpers took.
            RunChunks();
            WaitForAllChunks();
            if (slot >= 0)
            {
                Interlocked.CompareExchange(ref Board[slot], null, this);
            }

            failed = failure;
            Release();
        }

        failed?.Throw();
    }

    /// <summary>
    /// Waits for the chunks helpers are still rotating. An interrupt (<see cref="Thread.Interrupt"/>) cannot cut the
    /// wait short, since the helpers write into the caller's buffers; it is posted again once the wait is over, so the
    /// thread's next blocking call sees it.
    /// </summary>
    private void WaitForAllChunks()
    {
        bool interrupted = false;
        while (true)
        {
            try
            {
                allChunksDone.Wait();
                break;
            }
            catch (ThreadInterruptedException)
            {
                interrupted = true;
            }
        }

        if (interrupted)
        {
            Thread.CurrentThread.Interrupt();
        }
    }

    protected abstract void RotateChunk(int chunk);

    /// <summary>Clears the call's state and returns the job to its pool; nobody holds a reference any more.</summary>
    protected abstract void Recycle();

    private int Publish()
    {
        for (int slot = 0; slot < Board.Length; slot++)
        {
            if (Interlocked.CompareExchange(ref Board[slot], this, null) is null)
            {
                return slot;
            }
        }

        return -1;
    }

    private static void RequestHelpers(int count)
    {
        for (int i = 0; i < Helpers.Length && count > 0; i++)
        {
            if (Helpers[i].TryQueue())
            {
                count--;
            }
        }
    }

    private bool TryAcquire()
    {
        int current = Volatile.Read(ref references);
        while (current > 0)
        {
            int seen = Interlocked.CompareExchange(ref references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref references) == 0)
        {
            Recycle();
        }
    }

    /// <summary>Claims and runs chunks until none is left; returns how many this thread ran.</summary>
    private int RunChunks()
    {
        for (int ran = 0; ; ran++)
        {
            int chunk = Interlocked.Increment(ref nextChunk) - 1;
            if (chunk >= chunkCount)
            {
                return ran;
            }

            try
            {
                RotateChunk(chunk);
            }
            catch (Exception exception)
            {
                Interlocked.CompareExchange(ref failure, ExceptionDispatchInfo.Capture(exception), null);
            }

            if (Interlocked.Increment(ref finishedChunks) == chunkCount)
            {
                allChunksDone.Set();
            }
        }
    }

    private static Helper[] CreateHelpers()
    {
        var helpers = new Helper[Math.Max(1, Environment.ProcessorCount - 1)];
        for (int i = 0; i < helpers.Length; i++)
        {
            helpers[i] = new Helper();
        }

        return helpers;
    }

    /// <summary>A reusable thread-pool work item that helps every published job it can join.</summary>
    private sealed class Helper : IThreadPoolWorkItem
    {
        private int queued;

        public bool TryQueue()
        {
            if (Interlocked.Exchange(ref queued, 1) != 0)
            {
                return false;
            }

            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return true;
        }

        public void Execute()
        {
            // Cleared first: a job published from here on is either seen by the scan below or queues this helper again.
            Volatile.Write(ref queued, 0);
            foreach (ParallelJob? job in Board)
            {
                if (job is not null && job.TryAcquire())
                {
                    Interlocked.Add(ref chunksRunByHelpers, job.RunChunks());
                    job.Release();
                }
            }
        }
    }
}

/// <summary>
/// One parallel rotation: the tokens × heads grid cut into chunks, each rotated by the inner engine on its slice of
/// the pinned spans. Each chunk is a token range × a range of the query heads followed by the key heads; rows are
/// expanded once per token per chunk, so chunks cut tokens first and heads only when there are fewer tokens than chunks.
/// Rows and positions arrive pinned; the targets are pinned here.
/// </summary>
internal sealed unsafe class ParallelRotation<TElement, TOperation> : ParallelJob
    where TElement : unmanaged
    where TOperation : struct, IRotationOperation
{
    // Several chunks per worker balance the load when a core is busy with other work.
    private const int ChunksPerWorker = 4;

    private static readonly ParallelRotation<TElement, TOperation>?[] Pool =
        new ParallelRotation<TElement, TOperation>?[Math.Max(4, 2 * Environment.ProcessorCount)];

    private Rotation.Call call;
    private RotationWork work;
    private TOperation operation;
    private PinnedTensor first, second;
    private int tokenChunks, headChunks;

    /// <summary>Rotates on up to <c>call.Workers</c> threads (the caller included) and returns when all of it is done.</summary>
    public static void Run(in Rotation.Call call, in RotationWork work, scoped in RotationTarget<TElement> first,
        scoped in RotationTarget<TElement> second, in TOperation operation)
    {
        fixed (TElement* firstSource = first.Source, firstDestination = first.Destination)
        fixed (TElement* secondSource = second.Source, secondDestination = second.Destination)
        {
            ParallelRotation<TElement, TOperation> job = Rent();
            job.call = call;
            job.work = work;
            job.operation = operation;
            job.first = new PinnedTensor(firstSource, firstDestination, first.Shape);
            job.second = new PinnedTensor(secondSource, secondDestination, second.Shape);
            int totalHeads = first.Shape.Heads + second.Shape.Heads;
            int wanted = call.Workers * ChunksPerWorker;
            job.tokenChunks = Math.Min(work.Tokens.End, wanted);
            job.headChunks = Math.Min(totalHeads, (wanted + job.tokenChunks - 1) / job.tokenChunks);
            job.Execute(job.tokenChunks * job.headChunks, call.Workers);
        }
    }

    protected override void RotateChunk(int chunk)
    {
        (int tokenChunk, int headChunk) = Math.DivRem(chunk, headChunks);
        int tokens = work.Tokens.End;
        int firstToken = Cut(tokens, tokenChunk, tokenChunks), endToken = Cut(tokens, tokenChunk + 1, tokenChunks);
        int firstHeads = first.Shape.Heads, totalHeads = firstHeads + second.Shape.Heads;
        int headStart = Cut(totalHeads, headChunk, headChunks), headEnd = Cut(totalHeads, headChunk + 1, headChunks);
        // Combined head h is query head h below firstHeads, key head h - firstHeads from there on.
        int firstStart = Math.Min(headStart, firstHeads), firstEnd = Math.Min(headEnd, firstHeads);
        int secondStart = Math.Max(headStart, firstHeads) - firstHeads, secondEnd = Math.Max(headEnd, firstHeads) - firstHeads;
        Rotation.OnPath(call.Path, work.With(work.Tokens with { First = firstToken, End = endToken }),
            first.Heads<TElement>(firstStart, firstEnd), second.Heads<TElement>(secondStart, secondEnd), operation);
    }

    protected override void Recycle()
    {
        work = default;
        operation = default;
        first = second = default;
        for (int slot = 0; slot < Pool.Length; slot++)
        {
            if (Interlocked.CompareExchange(ref Pool[slot], this, null) is null)
            {
                return;
            }
        }
    }

    /// <summary>Boundary <paramref name="index"/> of <paramref name="parts"/> near-equal parts of <paramref name="total"/>.</summary>
    private static int Cut(int total, int index, int parts) => (int)((long)total * index / parts);

    private static ParallelRotation<TElement, TOperation> Rent()
    {
        for (int slot = 0; slot < Pool.Length; slot++)
        {
            if (Interlocked.Exchange(ref Pool[slot], null) is { } pooled)
            {
                return pooled;
            }
        }

        return new ParallelRotation<TElement, TOperation>();
    }

    /// <summary>A tensor's pinned source and destination; a part of it is a range of its heads over every token of every sequence.</summary>
    private readonly struct PinnedTensor(void* source, void* destination, RopeShape shape)
    {
        public RopeShape Shape => shape;

        public RotationTarget<T> Heads<T>(int headStart, int headEnd)
            where T : unmanaged
        {
            int heads = headEnd - headStart;
            if (heads <= 0)
            {
                return default;
            }

            RopeShape part = shape.WithHeads(heads);
            nint offset = (nint)headStart * shape.HeadStride;
            return new RotationTarget<T>(
                new ReadOnlySpan<T>((T*)source + offset, part.RequiredLength), new Span<T>((T*)destination + offset, part.RequiredLength), part);
        }
    }
}
