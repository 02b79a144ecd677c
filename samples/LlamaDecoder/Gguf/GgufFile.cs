using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Rope.Simd.Samples.LlamaDecoder.Gguf;

/// <summary>
/// The parts of a GGUF file a decoder needs besides the rotary metadata (which <see cref="GgufConfig"/> reads): scalar
/// metadata and float32 / float16 tensors. Every size is checked against the file before it is used.
/// </summary>
public sealed class GgufFile : IDisposable
{
    public const uint TypeF32 = 0, TypeF16 = 1;

    private readonly FileStream stream;
    private readonly Dictionary<string, object> metadata = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorInfo> tensors = new(StringComparer.Ordinal);
    private readonly long dataStart;

    private GgufFile(string path)
    {
        stream = File.OpenRead(path);
        try
        {
            if (ReadUInt32() != 0x46554747)
            {
                throw new InvalidDataException($"{path} is not a GGUF file.");
            }

            if (ReadUInt32() is not (2 or 3))
            {
                throw new InvalidDataException($"{path}: only GGUF versions 2 and 3 are read.");
            }

            ulong tensorCount = ReadUInt64(), keyCount = ReadUInt64();
            for (ulong i = 0; i < keyCount; i++)
            {
                string key = ReadString();
                if (ReadValue(ReadUInt32()) is { } value)
                {
                    metadata[key] = value;
                }
            }

            for (ulong i = 0; i < tensorCount; i++)
            {
                string name = ReadString();
                uint dimensions = ReadUInt32();
                if (dimensions is 0 or > 4)
                {
                    throw new InvalidDataException($"Tensor '{name}' has {dimensions} dimensions.");
                }

                var shape = new long[dimensions];
                for (int d = 0; d < shape.Length; d++)
                {
                    shape[d] = checked((long)ReadUInt64());
                }

                tensors[name] = new TensorInfo(shape, ReadUInt32(), ReadUInt64());
            }

            long alignment = metadata.TryGetValue("general.alignment", out object? aligned) ? Convert.ToInt64(aligned) : 32;
            dataStart = (stream.Position + alignment - 1) / alignment * alignment;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public static GgufFile Open(string path) => new(path);

    public bool Has(string key) => metadata.ContainsKey(key);

    public bool HasTensor(string name) => tensors.ContainsKey(name);

    /// <summary>An integer key's value, or <paramref name="fallback"/> where the file has none.</summary>
    public int Int(string key, int? fallback = null) =>
        metadata.TryGetValue(key, out object? value) ? checked((int)Convert.ToInt64(value))
        : fallback ?? throw new InvalidDataException($"The GGUF file has no '{key}'.");

    public float Float(string key, float? fallback = null) =>
        metadata.TryGetValue(key, out object? value) ? Convert.ToSingle(value)
        : fallback ?? throw new InvalidDataException($"The GGUF file has no '{key}'.");

    public string String(string key) =>
        metadata.TryGetValue(key, out object? value) && value is string text ? text : throw new InvalidDataException($"The GGUF file has no string '{key}'.");

    /// <summary>ne0, ne1, ...: ne0 is the contiguous dimension (a weight's input features).</summary>
    public IReadOnlyList<long> Shape(string name) => Info(name).Shape;

    /// <summary>Whether the tensor is stored as float16.</summary>
    public bool IsHalf(string name) => Info(name).Type == TypeF16;

    /// <summary>A float32 or float16 tensor of the expected shape, widened to float32 (exactly).</summary>
    public float[] ReadFloats(string name, params long[] expectedShape)
    {
        TensorInfo tensor = Info(name);
        if (!tensor.Shape.SequenceEqual(expectedShape))
        {
            throw new InvalidDataException($"Tensor '{name}' is [{string.Join(", ", tensor.Shape)}]; the model needs [{string.Join(", ", expectedShape)}].");
        }

        long elements = tensor.Shape.Aggregate(1L, (product, size) => checked(product * size));
        int elementSize = tensor.Type switch
        {
            TypeF32 => 4,
            TypeF16 => 2,
            _ => throw new InvalidDataException($"Tensor '{name}' is of ggml type {tensor.Type}; this sample reads float32 (0) and float16 (1)."),
        };
        long start = checked(dataStart + (long)tensor.Offset), length = checked(elements * elementSize);
        if (start + length > stream.Length || elements > Array.MaxLength)
        {
            throw new InvalidDataException($"Tensor '{name}' lies outside the file.");
        }

        var bytes = new byte[length];
        stream.Position = start;
        stream.ReadExactly(bytes);
        var result = new float[elements];
        if (tensor.Type == TypeF32)
        {
            MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
        }
        else
        {
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), result);
        }

        return result;
    }

    public void Dispose() => stream.Dispose();

    private TensorInfo Info(string name) =>
        tensors.TryGetValue(name, out TensorInfo? tensor) ? tensor : throw new InvalidDataException($"The GGUF file has no tensor '{name}'.");

    // Scalars and strings are kept; arrays (the tokenizer's lists) are skipped.
    private object? ReadValue(uint type)
    {
        switch (type)
        {
            case 8:
                return ReadString();
            case 9:
                // Arrays of arrays are not valid GGUF (llama.cpp refuses them); following them would recurse as deep as a file nests them.
                uint elementType = ReadUInt32();
                if (elementType == 9)
                {
                    throw new InvalidDataException("A GGUF array holds arrays.");
                }

                ulong count = ReadUInt64();
                for (ulong i = 0; i < count; i++)
                {
                    _ = ReadValue(elementType);
                }

                return null;
            default:
                int size = type switch
                {
                    0 or 1 or 7 => 1,
                    2 or 3 => 2,
                    4 or 5 or 6 => 4,
                    10 or 11 or 12 => 8,
                    _ => throw new InvalidDataException($"Unknown GGUF value type {type}."),
                };
                ReadOnlySpan<byte> bytes = Read(size);
                return type switch
                {
                    0 or 7 => bytes[0],
                    1 => (sbyte)bytes[0],
                    2 => BinaryPrimitives.ReadUInt16LittleEndian(bytes),
                    3 => BinaryPrimitives.ReadInt16LittleEndian(bytes),
                    4 => BinaryPrimitives.ReadUInt32LittleEndian(bytes),
                    5 => BinaryPrimitives.ReadInt32LittleEndian(bytes),
                    6 => BinaryPrimitives.ReadSingleLittleEndian(bytes),
                    10 => BinaryPrimitives.ReadUInt64LittleEndian(bytes),
                    11 => BinaryPrimitives.ReadInt64LittleEndian(bytes),
                    _ => (object)BinaryPrimitives.ReadDoubleLittleEndian(bytes),
                };
        }
    }

    private uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Read(4));

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Read(8));

    private string ReadString()
    {
        ulong length = ReadUInt64();
        if (length > 1 << 20 || (long)length > stream.Length - stream.Position)
        {
            throw new InvalidDataException("A GGUF string is longer than the file or 1 MiB.");
        }

        return Encoding.UTF8.GetString(Read((int)length));
    }

    private byte[] Read(int count)
    {
        var bytes = new byte[count];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private sealed record TensorInfo(long[] Shape, uint Type, ulong Offset);
}
