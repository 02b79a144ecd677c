using System.Runtime.InteropServices;
using System.Text;

namespace Rope.Simd.Native;

/// <summary>
/// The message of the last failed call on each thread, kept as NUL-terminated UTF-8 in native memory owned by the
/// thread, so the pointer handed to C stays valid until that thread's next failure (or its exit).
/// </summary>
internal static unsafe class LastError
{
    [ThreadStatic]
    private static ThreadBuffer? buffer;

    private static readonly byte* Empty = (byte*)NativeMemory.AllocZeroed(1);

    public static byte* Pointer => buffer is null ? Empty : buffer.Data;

    public static NativeStatus Record(NativeStatus status, string message)
    {
        (buffer ??= new ThreadBuffer()).Write(message);
        return status;
    }

    /// <summary>Native memory for one thread's message, freed when the thread's buffer object is collected.</summary>
    private sealed class ThreadBuffer
    {
        private int capacity;

        public byte* Data { get; private set; }

        public void Write(string message)
        {
            int needed = Encoding.UTF8.GetMaxByteCount(message.Length) + 1;
            if (needed > capacity)
            {
                NativeMemory.Free(Data);
                capacity = Math.Max(needed, 256);
                Data = (byte*)NativeMemory.Alloc((nuint)capacity);
            }

            int written = Encoding.UTF8.GetBytes(message, new Span<byte>(Data, capacity - 1));
            Data[written] = 0;
        }

        ~ThreadBuffer() => NativeMemory.Free(Data);
    }
}
