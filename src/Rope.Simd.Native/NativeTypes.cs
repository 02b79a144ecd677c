namespace Rope.Simd.Native;

/// <summary>Status codes of the C ABI (<c>rope_simd_status</c> in rope_simd.h); 0 is success.</summary>
internal enum NativeStatus
{
    Ok = 0,
    NullPointer = 1,
    InvalidArgument = 2,
    OutOfRange = 3,
    InvalidHandle = 4,
    OutOfMemory = 5,
    Unsupported = 6,
    Internal = 7,
}

/// <summary>Element types of the C ABI (<c>rope_simd_dtype</c>).</summary>
internal enum NativeElementType
{
    Float32 = 0,
    BFloat16 = 1,
    Float16 = 2,
}

/// <summary>rope_simd_kv_layout.</summary>
internal enum NativeKvLayout
{
    PositionMajor = 0,
    HeadMajor = 1,
    Paged = 2,
}

/// <summary>rope_simd_norm_kind.</summary>
internal enum NativeNormKind
{
    None = 0,
    Rms = 1,
    RmsOnePlus = 2,
    RmsUnweighted = 3,
}

internal enum NativeRowsFormat
{
    Table = 0,
    Interleaved = 1,
    CosThenSin = 2,
    Separate = 3,
    Duplicated = 4,
}

internal enum NativePositionsKind
{
    Sequential = 0,
    Starts = 1,
    Int32 = 2,
    Int64 = 3,
}

// The C caller fills these structs; managed code only reads them.
#pragma warning disable CS0649

/// <summary><c>rope_simd_tensor</c>: where the heads of one tensor lie, in elements.</summary>
internal unsafe struct NativeTensor
{
    public void* Data;
    public long Length;
    public long Tokens;
    public long Heads;
    public long HeadDim;
    public long TokenStride;
    public long HeadStride;
}

/// <summary><c>rope_simd_positions</c>: one position per token from <see cref="Values"/>, or <see cref="Start"/> + t when it is null.</summary>
internal unsafe struct NativePositions
{
    public int* Values;
    public long Start;
}

/// <summary>rope_simd_rows.</summary>
internal unsafe struct NativeRows
{
    public int Format;
    public int Dtype;
    public ulong Table;
    public void* Cos;
    public void* Sin;
    public long Length;
    public int RotaryDim;
    public long RowStride;
}

/// <summary>rope_simd_batch_tensor.</summary>
internal unsafe struct NativeBatchTensor
{
    public void* Data;
    public void* Source;
    public long Length;
    public long Batch;
    public long Tokens;
    public long Heads;
    public long HeadDim;
    public long BatchStride;
    public long TokenStride;
    public long HeadStride;
}

/// <summary>rope_simd_batch_positions.</summary>
internal unsafe struct NativeBatchPositions
{
    public int Kind;
    public long Start;
    public void* Values;
    public long Count;
}

/// <summary>rope_simd_head_norm.</summary>
internal unsafe struct NativeHeadNorm
{
    public int Kind;
    public float Epsilon;
    public float* Weight;
    public long Length;
}

/// <summary>rope_simd_kv_cache.</summary>
internal unsafe struct NativeKvCache
{
    public int Layout;
    public int Dtype;
    public void* Keys;
    public void* Values;
    public long Length;
    public long Batch;
    public long Capacity;
    public long Heads;
    public long HeadDim;
    public long BlockSize;
    public int* BlockTable;
    public long BlockTableLength;
    public long BlocksPerSequence;
}

#pragma warning restore CS0649

/// <summary>A failure to report to the C caller with its status and message.</summary>
internal sealed class NativeException(NativeStatus status, string message) : Exception(message)
{
    public NativeStatus Status { get; } = status;
}
