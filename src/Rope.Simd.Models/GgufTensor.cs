using System.Collections.ObjectModel;

namespace Rope.Simd.Models;

/// <summary>One entry of a GGUF file's tensor directory (<see cref="GgufFile.Tensors"/>): what a tensor is and where its data lies. Immutable.</summary>
public sealed class GgufTensor
{
    internal GgufTensor(string name, long[] shape, long elementCount, uint type, ulong offset)
    {
        Name = name;
        Shape = new ReadOnlyCollection<long>(shape);
        ElementCount = elementCount;
        Type = type;
        Offset = offset;
    }

    /// <summary>The tensor's name, e.g. <c>blk.0.attn_q.weight</c>.</summary>
    public string Name { get; }

    /// <summary>
    /// ggml's ne0, ne1, ...: the sizes of its 1 to 4 dimensions, ne0 the contiguous one (a weight matrix's input
    /// features, so a [rows][columns] matrix is listed as [columns, rows]).
    /// </summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>The product of <see cref="Shape"/>: at most 2^62 (the reader refuses more).</summary>
    public long ElementCount { get; }

    /// <summary>The ggml type of its elements: 0 float32, 1 float16, 30 bfloat16, others quantized blocks (<see cref="GgufFile.ReadTensor"/> reads 0 and 1).</summary>
    public uint Type { get; }

    /// <summary>Where its data starts, in bytes from the start of the file's data section (the header's end, rounded up to general.alignment).</summary>
    public ulong Offset { get; }

    /// <summary>The name and the shape, e.g. <c>blk.0.attn_q.weight [4096, 4096]</c>.</summary>
    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
