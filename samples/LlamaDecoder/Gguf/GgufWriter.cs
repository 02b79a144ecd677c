using System.Runtime.InteropServices;
using System.Text;

namespace Rope.Simd.Samples.LlamaDecoder.Gguf;

/// <summary>
/// Writes GGUF version 3 as llama.cpp does: header, metadata, tensor infos, data aligned to 32 bytes. Enough to make
/// small models (RandomModel) and, in the tests, malformed files. Rope.Simd.Models' <c>GgufFile</c> reads them.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>The ggml types of the tensors this sample writes and reads: float32 and float16.</summary>
    public const uint TypeF32 = 0, TypeF16 = 1;

    private readonly List<byte[]> keys = [];
    private readonly List<(string Name, uint Type, ulong[] Shape, byte[] Data, ulong? Offset)> tensors = [];

    public GgufWriter String(string key, string value) => Add(key, 8, Text(value));

    public GgufWriter UInt32(string key, uint value) => Add(key, 4, BitConverter.GetBytes(value));

    public GgufWriter Float32(string key, float value) => Add(key, 6, BitConverter.GetBytes(value));

    public GgufWriter Strings(string key, string[] values) =>
        Add(key, 9, [.. BitConverter.GetBytes(8u), .. BitConverter.GetBytes((ulong)values.Length), .. values.SelectMany(Text)]);

    public GgufWriter Int32s(string key, int[] values) =>
        Add(key, 9, [.. BitConverter.GetBytes(5u), .. BitConverter.GetBytes((ulong)values.Length), .. values.SelectMany(BitConverter.GetBytes)]);

    /// <summary>An array header claiming <paramref name="count"/> elements, with none following.</summary>
    public GgufWriter RawArray(string key, uint type, ulong count) => Add(key, 9, [.. BitConverter.GetBytes(type), .. BitConverter.GetBytes(count)]);

    public GgufWriter Tensor(string name, uint type, ulong[] shape, byte[] data, ulong? offset = null)
    {
        tensors.Add((name, type, shape, data, offset));
        return this;
    }

    public MemoryStream Stream() => new(Bytes());

    public void Save(string path)
    {
        using FileStream file = File.Create(path);
        WriteTo(file);
    }

    public byte[] Bytes()
    {
        var memory = new MemoryStream();
        WriteTo(memory);
        return memory.ToArray();
    }

    public void WriteTo(Stream output)
    {
        var header = new List<byte>();
        header.AddRange("GGUF"u8.ToArray());
        header.AddRange(BitConverter.GetBytes(3u));
        header.AddRange(BitConverter.GetBytes((ulong)tensors.Count));
        header.AddRange(BitConverter.GetBytes((ulong)keys.Count));
        foreach (byte[] key in keys)
        {
            header.AddRange(key);
        }

        ulong next = 0;
        var offsets = new List<ulong>();
        foreach ((string name, uint type, ulong[] shape, byte[] data, ulong? offset) in tensors)
        {
            ulong at = offset ?? next;
            offsets.Add(at);
            next = (at + (ulong)data.Length + 31) / 32 * 32;
            header.AddRange(Text(name));
            header.AddRange(BitConverter.GetBytes((uint)shape.Length));
            foreach (ulong size in shape)
            {
                header.AddRange(BitConverter.GetBytes(size));
            }

            header.AddRange(BitConverter.GetBytes(type));
            header.AddRange(BitConverter.GetBytes(at));
        }

        while (header.Count % 32 != 0)
        {
            header.Add(0);
        }

        output.Write(CollectionsMarshal.AsSpan(header));
        ulong written = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            // A tensor given an offset of its own is described, not written (the tests' malformed files).
            if (tensors[i].Offset is not null)
            {
                continue;
            }

            output.Write(new byte[offsets[i] - written]);
            output.Write(tensors[i].Data);
            written = offsets[i] + (ulong)tensors[i].Data.Length;
        }
    }

    private GgufWriter Add(string key, uint type, byte[] value)
    {
        keys.Add([.. Text(key), .. BitConverter.GetBytes(type), .. value]);
        return this;
    }

    private static byte[] Text(string value) => [.. BitConverter.GetBytes((ulong)Encoding.UTF8.GetByteCount(value)), .. Encoding.UTF8.GetBytes(value)];
}
