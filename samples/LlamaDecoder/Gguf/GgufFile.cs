using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Rope.Simd.Samples.LlamaDecoder.Gguf;

/// <summary>
/// The parts of a GGUF file a decoder needs besides the rotary metadata (which <see cref="GgufConfig"/> reads): scalar
/// metadata and float32 / float16 tensors. Every size is checked against the file before it is used or allocated, in
/// checked arithmetic: a malformed or truncated file is an <see cref="InvalidDataException"/> naming what is wrong.
/// </summary>
public sealed class GgufFile : IDisposable
{
    public const uint TypeF32 = 0, TypeF16 = 1;

    private readonly FileStream stream;
    private readonly Dictionary<string, object> metadata = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorInfo> tensors = new(StringComparer.Ordinal);
    private readonly long dataStart;
    private readonly long alignment;
    private const long MaxElements = 1L << 62;

    private GgufFile(string path)
    {
        stream = File.OpenRead(path);
        try
        {
            (dataStart, alignment) = ReadHeader(path);
        }
        catch (EndOfStreamException)
        {
            stream.Dispose();
            throw new InvalidDataException($"{path} is truncated: it ends inside its GGUF header.");
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private (long DataStart, long Alignment) ReadHeader(string path)
    {
        if (ReadUInt32() != 0x46554747)
        {
            throw new InvalidDataException($"{path} is not a GGUF file.");
        }

        if (ReadUInt32() is not (2 or 3))
        {
            throw new InvalidDataException($"{path}: only GGUF versions 2 and 3 are read.");
        }

        // Each key takes at least 13 bytes (name length, one byte of name, type) and each tensor info 24: counts the
        // file cannot hold are refused before anything is read for them.
        ulong tensorCount = ReadUInt64(), keyCount = ReadUInt64();
        if (keyCount > (ulong)Remaining / 13 || tensorCount > (ulong)Remaining / 24)
        {
            throw new InvalidDataException($"{path} claims {keyCount} keys and {tensorCount} tensors; the file is too short for them.");
        }

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
            long elements = 1;
            for (int d = 0; d < shape.Length; d++)
            {
                ulong size = ReadUInt64();
                // Sizes and their product stay below 2^62 elements (llama.cpp's bound), far past any file's length.
                if (size > MaxElements || (size != 0 && elements > MaxElements / (long)size))
                {
                    throw new InvalidDataException($"Tensor '{name}': dimension {d} of {size} makes more elements than a file can hold.");
                }

                shape[d] = (long)size;
                elements *= (long)size;
            }

            if (!tensors.TryAdd(name, new TensorInfo(shape, elements, ReadUInt32(), ReadUInt64())))
            {
                throw new InvalidDataException($"Tensor '{name}' is listed twice.");
            }
        }

        long alignment = 32;
        if (metadata.TryGetValue("general.alignment", out object? aligned))
        {
            // llama.cpp: a uint32 power of two.
            if (aligned is not uint value || value == 0 || (value & (value - 1)) != 0)
            {
                throw new InvalidDataException($"general.alignment {aligned} is not a uint32 power of two.");
            }

            alignment = value;
        }

        return ((stream.Position + alignment - 1) / alignment * alignment, alignment);
    }

    public static GgufFile Open(string path) => new(path);

    public bool Has(string key) => metadata.ContainsKey(key);

    public bool HasTensor(string name) => tensors.ContainsKey(name);

    /// <summary>How many tensors the file lists.</summary>
    public int TensorCount => tensors.Count;

    /// <summary>An integer key's value, or <paramref name="fallback"/> where the file has none.</summary>
    /// <exception cref="InvalidDataException">The key is not an integer, or its value does not fit an <see cref="int"/>.</exception>
    public int Int(string key, int? fallback = null)
    {
        if (!metadata.TryGetValue(key, out object? value))
        {
            return fallback ?? throw new InvalidDataException($"The GGUF file has no '{key}'.");
        }

        long? number = value switch
        {
            byte v => v,
            sbyte v => v,
            ushort v => v,
            short v => v,
            uint v => v,
            int v => v,
            ulong v => v <= int.MaxValue ? (long)v : null,
            long v => v,
            _ => throw new InvalidDataException($"'{key}' is {value} ({value.GetType().Name}); an integer is expected."),
        };
        return number is >= int.MinValue and <= int.MaxValue ? (int)number.Value
            : throw new InvalidDataException($"'{key}' is {value}, outside [{int.MinValue}, {int.MaxValue}].");
    }

    /// <summary>A number key's value as float32, or <paramref name="fallback"/> where the file has none.</summary>
    /// <exception cref="InvalidDataException">The key is not a number.</exception>
    public float Float(string key, float? fallback = null)
    {
        if (!metadata.TryGetValue(key, out object? value))
        {
            return fallback ?? throw new InvalidDataException($"The GGUF file has no '{key}'.");
        }

        return value switch
        {
            float v => v,
            double v => (float)v,
            byte or sbyte or ushort or short or uint or int or ulong or long => Convert.ToSingle(value, System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new InvalidDataException($"'{key}' is {value} ({value.GetType().Name}); a number is expected."),
        };
    }

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

        long elements = tensor.Elements;
        int elementSize = tensor.Type switch
        {
            TypeF32 => 4,
            TypeF16 => 2,
            _ => throw new InvalidDataException($"Tensor '{name}' is of ggml type {tensor.Type}; this sample reads float32 (0) and float16 (1)."),
        };

        // elements < 2^62, so its bytes fit a long; the offset is checked against the file before it is added.
        long length = elements * elementSize, available = stream.Length - dataStart;
        if (tensor.Offset % (ulong)alignment != 0)
        {
            throw new InvalidDataException($"Tensor '{name}' starts at offset {tensor.Offset}, not a multiple of the alignment {alignment}.");
        }

        if (tensor.Offset > (ulong)available || length > available - (long)tensor.Offset)
        {
            throw new InvalidDataException($"Tensor '{name}' ({length} bytes at offset {tensor.Offset}) lies outside the file's {available} bytes of data.");
        }

        if (elements > Array.MaxLength)
        {
            throw new InvalidDataException($"Tensor '{name}' has {elements} elements, more than an array holds.");
        }

        stream.Position = dataStart + (long)tensor.Offset;
        var result = new float[elements];
        if (tensor.Type == TypeF32)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(result.AsSpan()));
        }
        else
        {
            var halves = new Half[elements];
            stream.ReadExactly(MemoryMarshal.AsBytes(halves.AsSpan()));
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves, result);
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
                int fixedSize = ValueSize(elementType);
                if (elementType == 8)
                {
                    // Each string takes at least its 8-byte length.
                    if (count > (ulong)Remaining / 8)
                    {
                        throw new InvalidDataException($"A GGUF array claims {count} strings; the file is too short for them.");
                    }

                    for (ulong i = 0; i < count; i++)
                    {
                        SkipString();
                    }
                }
                else if (count > (ulong)(Remaining / fixedSize))
                {
                    throw new InvalidDataException($"A GGUF array claims {count} values of {fixedSize} bytes; the file is too short for them.");
                }
                else
                {
                    stream.Seek((long)count * fixedSize, SeekOrigin.Current);
                }

                return null;
            default:
                ReadOnlySpan<byte> bytes = Read(ValueSize(type));
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

    // Bytes of a fixed-size GGUF value type; strings (8) are read by their length.
    private static int ValueSize(uint type) => type switch
    {
        0 or 1 or 7 => 1,
        2 or 3 => 2,
        4 or 5 or 6 => 4,
        10 or 11 or 12 => 8,
        8 => 8,
        _ => throw new InvalidDataException($"Unknown GGUF value type {type}."),
    };

    private long Remaining => stream.Length - stream.Position;

    private uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Read(4));

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Read(8));

    private string ReadString()
    {
        ulong length = ReadUInt64();
        if (length > 1 << 20 || length > (ulong)Remaining)
        {
            throw new InvalidDataException($"A GGUF string claims {length} bytes, more than the file holds or 1 MiB.");
        }

        return Encoding.UTF8.GetString(Read((int)length));
    }

    // An array's string (a tokenizer's vocabulary): checked against the file, then passed over.
    private void SkipString()
    {
        ulong length = ReadUInt64();
        if (length > (ulong)Remaining)
        {
            throw new InvalidDataException($"A GGUF string claims {length} bytes, more than the file holds.");
        }

        stream.Seek((long)length, SeekOrigin.Current);
    }

    private byte[] Read(int count)
    {
        var bytes = new byte[count];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private sealed record TensorInfo(long[] Shape, long Elements, uint Type, ulong Offset);
}
