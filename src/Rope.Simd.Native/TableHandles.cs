namespace Rope.Simd.Native;

/// <summary>
/// The rows behind a C handle: a <see cref="RopeTable"/>, or only frequencies when each call computes its rows.
/// </summary>
internal sealed class TableEntry(RopeFrequencies frequencies, RopeTable? table)
{
    public RopeFrequencies Frequencies { get; } = frequencies;

    public RopeTable? Table { get; } = table;

    /// <summary>The generation of the slot this entry was stored in; part of its handle.</summary>
    public uint Generation { get; set; }
}

/// <summary>
/// Handles for tables given to C: slot index + 1 in the low 32 bits and the slot's generation in the high 32, so a
/// freed, stale, forged or zero handle is reported as invalid instead of being dereferenced. Lookups take no lock.
/// </summary>
internal static class TableHandles
{
    private static readonly Lock Gate = new();
    private static readonly Stack<int> FreeSlots = new();
    private static TableEntry?[] entries = new TableEntry?[16];
    private static uint[] generations = new uint[16];
    private static int used;

    public static ulong Add(TableEntry entry)
    {
        lock (Gate)
        {
            if (!FreeSlots.TryPop(out int slot))
            {
                if (used == entries.Length)
                {
                    // Readers holding the old array still see valid entries; new ones only go to the grown array.
                    Array.Resize(ref generations, used * 2);
                    TableEntry?[] grown = new TableEntry?[used * 2];
                    entries.CopyTo(grown, 0);
                    Volatile.Write(ref entries, grown);
                }

                slot = used++;
            }

            entry.Generation = ++generations[slot];
            Volatile.Write(ref entries[slot], entry);
            return ((ulong)entry.Generation << 32) | (uint)(slot + 1);
        }
    }

    public static TableEntry Get(ulong handle)
    {
        TableEntry?[] current = Volatile.Read(ref entries);
        long slot = (long)(handle & uint.MaxValue) - 1;
        if (slot >= 0 && slot < current.Length && Volatile.Read(ref current[slot]) is { } entry && entry.Generation == (uint)(handle >> 32))
        {
            return entry;
        }

        throw new NativeException(NativeStatus.InvalidHandle, $"Table handle 0x{handle:x} is not a live table (never created, or already freed).");
    }

    public static void Remove(ulong handle)
    {
        lock (Gate)
        {
            Get(handle);
            int slot = (int)(handle & uint.MaxValue) - 1;
            Volatile.Write(ref entries[slot], null);
            FreeSlots.Push(slot);
        }
    }
}
