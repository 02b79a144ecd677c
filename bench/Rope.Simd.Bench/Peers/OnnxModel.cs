using System.Text;

namespace Rope.Simd.Bench.Peers;

/// <summary>
/// A one-node ONNX model written as protobuf bytes by hand (no onnx or Google.Protobuf package): ModelProto with its
/// opset imports and a GraphProto of one NodeProto, its attributes and the typed, shaped inputs and outputs.
/// </summary>
internal static class OnnxModel
{
    public const int Float = 1, Float16 = 10, Int64 = 7;

    public sealed record Tensor(string Name, int ElementType, long[] Shape);

    public static byte[] Single(long irVersion, (string Domain, long Version)[] opsets, string opType, string domain,
        (string Name, long Value)[] attributes, Tensor[] inputs, Tensor[] outputs)
    {
        var node = new Writer();
        foreach (Tensor input in inputs)
        {
            node.String(1, input.Name);
        }

        foreach (Tensor output in outputs)
        {
            node.String(2, output.Name);
        }

        node.String(4, opType);
        node.String(7, domain);
        foreach ((string name, long value) in attributes)
        {
            node.Message(5, new Writer().String(1, name).Integer(3, value).Integer(20, 2)); // type INT
        }

        var graph = new Writer().Message(1, node).String(2, "rope");
        foreach (Tensor input in inputs)
        {
            graph.Message(11, ValueInfo(input));
        }

        foreach (Tensor output in outputs)
        {
            graph.Message(12, ValueInfo(output));
        }

        var model = new Writer().Integer(1, irVersion);
        foreach ((string opsetDomain, long version) in opsets)
        {
            model.Message(8, new Writer().String(1, opsetDomain).Integer(2, version));
        }

        return model.Message(7, graph).ToArray();
    }

    private static Writer ValueInfo(Tensor tensor)
    {
        var shape = new Writer();
        foreach (long dimension in tensor.Shape)
        {
            shape.Message(1, new Writer().Integer(1, dimension));
        }

        var tensorType = new Writer().Integer(1, tensor.ElementType).Message(2, shape);
        return new Writer().String(1, tensor.Name).Message(2, new Writer().Message(1, tensorType));
    }

    /// <summary>Protobuf wire format: varint fields (wire type 0) and length-delimited fields (wire type 2).</summary>
    private sealed class Writer
    {
        private readonly MemoryStream bytes = new();

        public Writer Integer(int field, long value)
        {
            Varint((ulong)(field << 3));
            Varint((ulong)value);
            return this;
        }

        public Writer String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public Writer Message(int field, Writer message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => bytes.ToArray();

        private Writer Bytes(int field, byte[] value)
        {
            Varint((ulong)((field << 3) | 2));
            Varint((ulong)value.Length);
            bytes.Write(value);
            return this;
        }

        private void Varint(ulong value)
        {
            for (; value >= 0x80; value >>= 7)
            {
                bytes.WriteByte((byte)(value | 0x80));
            }

            bytes.WriteByte((byte)value);
        }
    }
}
