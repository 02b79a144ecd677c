using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Rope.Simd.Native;

/// <summary>
/// The functions of the C ABI. Each variant library (one per x86-64 level) exports them as <c>rope_simd_impl_*</c>;
/// the loader library exports the <c>rope_simd_*</c> names of rope_simd.h and forwards to the variant it picked.
/// No exception ever crosses the boundary: every failure becomes a status code and a per-thread message.
/// </summary>
internal static unsafe class Exports
{
    /// <summary>Bumped when a signature or struct of rope_simd.h changes; the loader refuses a variant that differs.</summary>
    private const int AbiVersion = 1;

    private const int InverseFlag = 1;

    private static readonly byte* PathName = Utf8(RopeEngine.Default.Path.ToString());

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_abi_version")]
    public static int AbiVersionExport() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_path")]
    public static byte* Path() => PathName;

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_last_error")]
    public static byte* LastErrorMessage() => LastError.Pointer;

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_create")]
    public static int TableCreate(int rotaryDim, double @base, int firstPosition, int positionCount, ulong* table)
    {
        try
        {
            NotNull(table, "out_table");
            *table = 0;
            *table = AddTable(RopeFrequencies.Create(rotaryDim, @base), firstPosition, positionCount);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_create", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_create_from_frequencies")]
    public static int TableCreateFromFrequencies(double* inverseFrequencies, int pairCount, double attentionFactor,
        int firstPosition, int positionCount, ulong* table)
    {
        try
        {
            NotNull(table, "out_table");
            *table = 0;
            NotNull(inverseFrequencies, "inverse_frequencies");
            if (pairCount <= 0)
            {
                throw new NativeException(NativeStatus.OutOfRange, $"pair_count is {pairCount}; at least one pair is needed.");
            }

            var frequencies = RopeFrequencies.FromInverseFrequencies(new ReadOnlySpan<double>(inverseFrequencies, pairCount), attentionFactor);
            *table = AddTable(frequencies, firstPosition, positionCount);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_create_from_frequencies", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_free")]
    public static int TableFree(ulong table)
    {
        try
        {
            TableHandles.Remove(table);
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_free", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_info")]
    public static int TableInfo(ulong table, int* rotaryDim, int* firstPosition, int* positionCount)
    {
        try
        {
            TableEntry entry = TableHandles.Get(table);
            if (rotaryDim is not null)
            {
                *rotaryDim = entry.Frequencies.RotaryDim;
            }

            if (firstPosition is not null)
            {
                *firstPosition = entry.Table?.FirstPosition ?? 0;
            }

            if (positionCount is not null)
            {
                *positionCount = entry.Table?.PositionCount ?? 0;
            }

            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_info", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_table_rows")]
    public static int TableRows(ulong table, float** rows, long* length)
    {
        try
        {
            NotNull(rows, "out_rows");
            NotNull(length, "out_length");
            *rows = null;
            *length = 0;
            RopeTable stored = TableHandles.Get(table).Table
                ?? throw new NativeException(NativeStatus.InvalidArgument, "The table computes its rows per call (created with position_count 0); it stores none.");
            // The rows live on the pinned object heap: the address stays valid until the table is freed.
            *rows = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(stored.Rows));
            *length = stored.Rows.Length;
            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_table_rows", exception);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "rope_simd_impl_rotate")]
    public static int Rotate(ulong table, int elementType, int layout, int flags, NativePositions positions, NativeTensor* queries, NativeTensor* keys)
    {
        try
        {
            TableEntry entry = TableHandles.Get(table);
            if (elementType is < 0 or > (int)NativeElementType.Float16)
            {
                throw new NativeException(NativeStatus.InvalidArgument, $"dtype {elementType} is not a rope_simd_dtype (0 float32, 1 bfloat16, 2 float16).");
            }

            if (layout is not ((int)RopeLayout.Interleaved or (int)RopeLayout.HalfSplit))
            {
                throw new NativeException(NativeStatus.InvalidArgument, $"layout {layout} is not a rope_simd_layout (0 interleaved, 1 half-split).");
            }

            if ((flags & ~InverseFlag) != 0)
            {
                throw new NativeException(NativeStatus.InvalidArgument, $"flags 0x{flags:x} has bits other than ROPE_SIMD_INVERSE.");
            }

            NotNull(queries, "queries");
            // Each struct is copied once: the caller's memory may change while the call runs, and every field used
            // below is the one that was checked.
            NativeTensor queryTensor = *queries, keyTensor = keys is null ? default : *keys;
            RopeShape queryShape = Shape(queryTensor, "queries");
            RopeShape keyShape = keys is null ? default : Shape(keyTensor, "keys");
            RopePositions ropePositions = Positions(positions, queryShape.Tokens);
            var target = new Target(entry, (RopeLayout)layout, (flags & InverseFlag) != 0, keys is not null);
            switch ((NativeElementType)elementType)
            {
                case NativeElementType.Float32:
                    target.Apply(Span<float>(queryTensor, queryShape), queryShape, Span<float>(keyTensor, keyShape), keyShape, ropePositions);
                    break;
                case NativeElementType.BFloat16:
                    target.Apply(Span<BFloat16>(queryTensor, queryShape), queryShape, Span<BFloat16>(keyTensor, keyShape), keyShape, ropePositions);
                    break;
                default:
                    target.Apply(Span<Half>(queryTensor, queryShape), queryShape, Span<Half>(keyTensor, keyShape), keyShape, ropePositions);
                    break;
            }

            return 0;
        }
        catch (Exception exception)
        {
            return Fail("rope_simd_rotate", exception);
        }
    }

    private static ulong AddTable(RopeFrequencies frequencies, int firstPosition, int positionCount)
    {
        if (positionCount < 0)
        {
            throw new NativeException(NativeStatus.OutOfRange, $"position_count is {positionCount}; use 0 for rows computed per call, or the positions to store.");
        }

        RopeTable? table = positionCount == 0 ? null : RopeTable.Create(frequencies, firstPosition, positionCount);
        return TableHandles.Add(new TableEntry(frequencies, table));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static RopeShape Shape(in NativeTensor tensor, string name)
    {
        int tokens = Count(tensor.Tokens, name, "tokens"), heads = Count(tensor.Heads, name, "heads");
        int headDim = Count(tensor.HeadDim, name, "head_dim");
        // A stride of 0 means packed [tokens][heads][head_dim].
        int tokenStride = tensor.TokenStride == 0 ? PackedTokenStride(heads, headDim, name) : Count(tensor.TokenStride, name, "token_stride");
        int headStride = Count(tensor.HeadStride == 0 ? headDim : tensor.HeadStride, name, "head_stride");
        if (tensor.Length < 0)
        {
            throw OutOfRange(name, "length", tensor.Length, "it must not be negative");
        }

        var shape = new RopeShape(tokens, heads, headDim, tokenStride, headStride);
        if (tensor.Data is null && shape.RequiredLength > 0)
        {
            throw new NativeException(NativeStatus.NullPointer, $"{name}->data is NULL but the tensor has {shape.RequiredLength} elements.");
        }

        return shape;
    }

    private static int PackedTokenStride(int heads, int headDim, string name)
    {
        long stride = (long)heads * headDim;
        if (stride > int.MaxValue)
        {
            throw new NativeException(NativeStatus.OutOfRange,
                $"{name}->heads × {name}->head_dim is {heads} × {headDim} = {stride}; with token_stride 0 (packed) one token's heads must fit in 2^31 - 1 elements.");
        }

        return (int)stride;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Span<T> Span<T>(in NativeTensor tensor, RopeShape shape)
        where T : unmanaged =>
        shape.RequiredLength == 0 ? default : new Span<T>(tensor.Data, (int)Math.Min(tensor.Length, int.MaxValue));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Count(long value, string tensor, string field)
    {
        if ((ulong)value > int.MaxValue)
        {
            throw OutOfRange(tensor, field, value, "it must be in [0, 2^31 - 1]");
        }

        return (int)value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static RopePositions Positions(NativePositions positions, int tokens)
    {
        if (positions.Values is not null)
        {
            return new ReadOnlySpan<int>(positions.Values, tokens);
        }

        if (positions.Start != (int)positions.Start)
        {
            throw OutOfRange("positions", "start", positions.Start, "it must fit in 32 bits");
        }

        return RopePositions.Sequential((int)positions.Start);
    }

    // Kept out of line so the checks above stay small enough to inline.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static NativeException OutOfRange(string owner, string field, long value, string rule) =>
        new(NativeStatus.OutOfRange, $"{owner}{(owner == "positions" ? "." : "->")}{field} is {value}; {rule}.");

    private static void NotNull(void* pointer, string name)
    {
        if (pointer is null)
        {
            throw new NativeException(NativeStatus.NullPointer, $"{name} is NULL.");
        }
    }

    private static int Fail(string function, Exception exception)
    {
        NativeStatus status = exception switch
        {
            NativeException native => native.Status,
            ArgumentNullException => NativeStatus.NullPointer,
            ArgumentOutOfRangeException => NativeStatus.OutOfRange,
            ArgumentException => NativeStatus.InvalidArgument,
            OutOfMemoryException => NativeStatus.OutOfMemory,
            PlatformNotSupportedException => NativeStatus.Unsupported,
            _ => NativeStatus.Internal,
        };
        return (int)LastError.Record(status, $"{function}: {CallerFacingMessage(exception)}");
    }

    /// <summary>The message with the engine's parameter names replaced by the C argument they come from.</summary>
    private static string CallerFacingMessage(Exception exception)
    {
        if (exception is not ArgumentException { ParamName: { } parameter } argument)
        {
            return exception.Message;
        }

        string argumentName = parameter switch
        {
            "values" or "queries" or "queryShape" or "shape" => "queries",
            "keys" or "keyShape" => "keys",
            "rotaryDim" => "rotary_dim",
            "firstPosition" => "first_position",
            "positionCount" => "position_count",
            "inverseFrequencies" => "inverse_frequencies",
            "attentionFactor" => "attention_factor",
            "tokenStride" => "token_stride",
            "headStride" => "head_stride",
            "headDim" => "head_dim",
            _ => parameter,
        };
        return argument.Message.Replace($" (Parameter '{parameter}')", $" (argument {argumentName})", StringComparison.Ordinal);
    }

    private static byte* Utf8(string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        byte* bytes = (byte*)NativeMemory.AllocZeroed((nuint)length + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>(bytes, length));
        return bytes;
    }

    /// <summary>One rotation request: the rows (table or frequencies), layout, direction, and whether keys come along.</summary>
    private readonly struct Target(TableEntry entry, RopeLayout layout, bool inverse, bool withKeys)
    {
        public void Apply<T>(Span<T> queries, RopeShape queryShape, Span<T> keys, RopeShape keyShape, RopePositions positions)
            where T : unmanaged
        {
            RopeRows rows = entry.Table is { } table ? table : entry.Frequencies;
            if (withKeys)
            {
                RopeEngine.Default.Apply(rows, queries, queryShape, keys, keyShape, positions, layout, inverse);
            }
            else
            {
                RopeEngine.Default.Apply(rows, queries, queryShape, positions, layout, inverse);
            }
        }
    }
}
