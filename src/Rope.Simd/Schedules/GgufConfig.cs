using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Rope.Simd;

/// <summary>What a GGUF file says about its model's rotary embedding, as llama.cpp reads it.</summary>
/// <param name="Architecture">general.architecture (llama, qwen2, gemma3, ...).</param>
/// <param name="Configuration">Head dim, frequencies (with the rope_freqs tensor's per-pair factors where the file has it), scaling type and context length.</param>
/// <param name="Layout">The pair layout llama.cpp rotates this architecture with: interleaved (ggml's normal mode, e.g. llama, whose converted
/// weights are permuted for it) or half-split (NeoX mode: qwen2, gemma, phi3, falcon, ...).</param>
/// <param name="QueryHeads">&lt;arch&gt;.attention.head_count.</param>
/// <param name="KeyValueHeads">&lt;arch&gt;.attention.head_count_kv (the query heads where absent).</param>
public sealed record GgufRopeModel(string Architecture, RopeConfiguration Configuration, RopeLayout Layout, int QueryHeads, int KeyValueHeads);

/// <summary>
/// Reads the rotary part of a GGUF file's header (the format of llama.cpp): general.architecture,
/// &lt;arch&gt;.rope.dimension_count, .rope.freq_base, .rope.scaling.type / .factor / .original_context_length /
/// .attn_factor / .yarn_log_multiplier, .rope.scale_linear, .rope.dimension_sections, the head counts and lengths,
/// and the one tensor that carries rope data, <c>rope_freqs.weight</c> (per-pair frequency divisors, float32), whose bytes
/// alone are read; <c>rope_factors_short/long.weight</c> for LongRoPE. Defaults are llama.cpp's (freq_base 10000,
/// the rotary dim the head dim).
/// </summary>
/// <remarks>
/// Every size read from the file is checked against the bytes left before anything is allocated or skipped; a
/// malformed file is an <see cref="InvalidDataException"/> naming the key or the place, never a hang or an allocation
/// the file merely claims.
/// </remarks>
public static class GgufConfig
{
    private const uint Magic = 0x46554747; // "GGUF", little-endian
    private const int DefaultAlignment = 32;

    // Architectures llama.cpp rotates in NeoX mode (half-split pairs); the others it names rotate in normal mode.
    private static readonly HashSet<string> NeoXArchitectures = new(StringComparer.Ordinal)
    {
        "falcon", "falcon-h1", "grok", "dbrx", "bert", "jina-bert-v2", "nomic-bert", "stablelm", "bitnet", "qwen", "qwen2", "qwen2moe", "qwen3",
        "qwen3moe", "olmo2", "olmoe", "phi2", "phi3", "phimoe", "plamo", "gemma", "gemma2", "gemma3", "gemma3n", "starcoder2", "openelm", "gptneox",
        "codeshell", "orion", "nemotron", "exaone", "minicpm3", "dots1", "hunyuan-moe", "ernie4_5-moe", "smallthinker", "glm4moe", "gpt-oss",
        // M-RoPE: NeoX pairs, each section of pairs on its own position stream.
        "qwen2vl",
    };

    // Architectures llama.cpp rotates in normal mode (interleaved pairs).
    private static readonly HashSet<string> NormalArchitectures = new(StringComparer.Ordinal)
    {
        "llama", "llama4", "deci", "baichuan", "starcoder", "internlm2", "minicpm", "xverse", "command-r", "cohere2", "olmo", "arctic",
        "deepseek", "deepseek2", "plm", "chatglm", "glm4", "granite", "granitemoe", "chameleon", "bailingmoe", "neo-bert", "smollm3", "arcee",
        "ernie4_5", "mistral3",
    };

    /// <summary>Reads a GGUF file's rope metadata (see the type's summary).</summary>
    /// <exception cref="InvalidDataException">The file is not GGUF, is truncated or malformed, or its rope metadata is missing or out of range.</exception>
    public static GgufRopeModel Load(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Read(stream);
    }

    /// <summary>Reads GGUF rope metadata from a seekable stream positioned at the file's start.</summary>
    /// <exception cref="ArgumentException">The stream cannot read or seek.</exception>
    /// <exception cref="InvalidDataException">The file is not GGUF, is truncated or malformed, or its rope metadata is missing or out of range.</exception>
    public static GgufRopeModel Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead || !stream.CanSeek)
        {
            throw new ArgumentException("The stream must be readable and seekable.", nameof(stream));
        }

        var reader = new Reader(stream);
        if (reader.UInt32("the magic") != Magic)
        {
            throw new InvalidDataException("Not a GGUF file: the first four bytes are not 'GGUF'.");
        }

        uint version = reader.UInt32("the version");
        if (version is not (2 or 3))
        {
            throw new InvalidDataException($"GGUF version {version} is not supported (2 and 3 are).");
        }

        ulong tensorCount = reader.UInt64("the tensor count"), keyCount = reader.UInt64("the metadata count");
        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < keyCount; i++)
        {
            string key = reader.String("a metadata key");
            object value = reader.Value(reader.UInt32($"the type of '{Bounded(key)}'"), key);
            if (!metadata.TryAdd(key, value))
            {
                throw new InvalidDataException($"GGUF key '{Bounded(key)}' appears twice.");
            }
        }

        // Tensor infos: only the rope tensors' places are kept.
        var ropeTensors = new Dictionary<string, (ulong Elements, uint Type, ulong Offset)>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = reader.String("a tensor name");
            uint dimensions = reader.UInt32($"the dimension count of tensor '{Bounded(name)}'");
            if (dimensions is 0 or > 4)
            {
                throw new InvalidDataException($"Tensor '{Bounded(name)}' has {dimensions} dimensions (1 to 4 are valid).");
            }

            ulong elements = 1;
            for (uint d = 0; d < dimensions; d++)
            {
                ulong size = reader.UInt64($"a dimension of tensor '{Bounded(name)}'");
                elements = size != 0 && elements > ulong.MaxValue / size
                    ? throw new InvalidDataException($"Tensor '{Bounded(name)}' has more elements than fit in 64 bits.")
                    : elements * size;
            }

            uint type = reader.UInt32($"the type of tensor '{Bounded(name)}'");
            ulong offset = reader.UInt64($"the offset of tensor '{Bounded(name)}'");
            if (name is "rope_freqs.weight" or "rope_factors_long.weight" or "rope_factors_short.weight")
            {
                ropeTensors[name] = (elements, type, offset);
            }
        }

        long alignment = metadata.TryGetValue("general.alignment", out object? aligned) ? Integer(aligned, "general.alignment") : DefaultAlignment;
        if (alignment <= 0 || alignment > 1 << 20 || (alignment & (alignment - 1)) != 0)
        {
            throw new InvalidDataException($"general.alignment is {alignment}; it must be a power of two up to 2^20.");
        }

        // A stream may claim any length: the rounding up is kept from wrapping (Floats checks the data lies in the file).
        long dataStart = reader.Position <= long.MaxValue - alignment
            ? (reader.Position + alignment - 1) / alignment * alignment
            : throw new InvalidDataException("The GGUF file is malformed: its tensor data would start past 2^63 bytes.");
        double[]? Tensor(string name, int pairs)
        {
            if (!ropeTensors.TryGetValue(name, out var tensor))
            {
                return null;
            }

            if (tensor.Type != 0)
            {
                throw new InvalidDataException($"Tensor '{name}' is of ggml type {tensor.Type}; rope data must be float32 (type 0).");
            }

            if (tensor.Elements != (ulong)pairs)
            {
                throw new InvalidDataException($"Tensor '{name}' holds {tensor.Elements} values but the rotary dim has {pairs} pairs.");
            }

            return reader.Floats(dataStart, tensor.Offset, pairs, name);
        }

        return Resolve(metadata, Tensor);
    }

    private static GgufRopeModel Resolve(Dictionary<string, object> metadata, Func<string, int, double[]?> tensor)
    {
        string architecture = metadata.TryGetValue("general.architecture", out object? arch) && arch is string name
            ? name
            : throw new InvalidDataException("general.architecture is missing or not a string.");
        RopeLayout layout = NeoXArchitectures.Contains(architecture) ? RopeLayout.HalfSplit
            : NormalArchitectures.Contains(architecture) ? RopeLayout.Interleaved
            : throw new InvalidDataException($"general.architecture '{Bounded(architecture)}' is not one whose rope mode Rope.Simd knows.");

        string prefix = architecture + ".";
        long? Optional(string key) => metadata.TryGetValue(prefix + key, out object? value) ? Integer(value, prefix + key) : null;
        double? OptionalReal(string key) => metadata.TryGetValue(prefix + key, out object? value) ? Real(value, prefix + key) : null;
        int Count(string key, long? value) => value is long v && v > 0 && v <= int.MaxValue
            ? (int)v
            : throw new InvalidDataException($"{prefix}{key} is {(value is null ? "missing" : value.Value.ToString(CultureInfo.InvariantCulture))}; it must be a positive 32-bit count.");

        int heads = Count("attention.head_count", Optional("attention.head_count"));
        int kvHeads = Optional("attention.head_count_kv") is long kv ? Count("attention.head_count_kv", kv) : heads;
        int headDim = Optional("attention.key_length") is long keyLength
            ? Count("attention.key_length", keyLength)
            : Count("embedding_length", Optional("embedding_length")) / heads;
        int rotaryDim = Optional("rope.dimension_count") is long dims ? Count("rope.dimension_count", dims) : headDim;
        if (rotaryDim % 2 != 0 || rotaryDim > headDim || headDim % 2 != 0)
        {
            throw new InvalidDataException($"{prefix}rope.dimension_count is {rotaryDim} for heads of {headDim}; it must be even and at most the head dim.");
        }

        // Checked before any tensor is read: the rope tensors hold one value per pair.
        if (rotaryDim > RopeFrequencies.MaxRotaryDim)
        {
            throw new InvalidDataException(
                $"{prefix}rope.dimension_count (or the head dim it defaults to) is {rotaryDim}; Rope.Simd accepts at most {RopeFrequencies.MaxRotaryDim}.");
        }

        int? context = Optional("context_length") is long length ? Count("context_length", length) : null;
        double @base = OptionalReal("rope.freq_base") ?? RopeFrequencies.DefaultBase;
        string type = metadata.TryGetValue(prefix + "rope.scaling.type", out object? scaling)
            ? scaling as string ?? throw new InvalidDataException($"{prefix}rope.scaling.type must be a string.")
            : OptionalReal("rope.scale_linear") is double linear && linear != 1 ? "linear" : "none";
        double Factor() => OptionalReal("rope.scaling.factor") ?? OptionalReal("rope.scale_linear")
            ?? throw new InvalidDataException($"{prefix}rope.scaling.factor is required by scaling type '{type}'.");
        int Original() => Optional("rope.scaling.original_context_length") is long original
            ? Count("rope.scaling.original_context_length", original)
            : throw new InvalidDataException($"{prefix}rope.scaling.original_context_length is required by scaling type '{type}'.");

        // yarn_log_multiplier is 0.1·mscale_all_dim (DeepSeek's conversion): the magnitude scale mscale / mscale_all_dim = 1.
        double? yarnMscale = type == "yarn" ? OptionalReal("rope.scaling.yarn_log_multiplier") / 0.1 : null;
        try
        {
            (RopeFrequencies frequencies, string scalingType) = type switch
            {
                "none" => (RopeFrequencies.Create(rotaryDim, @base), "default"),
                "linear" => (RopeScaling.Linear(rotaryDim, @base, Factor()), "linear"),
                "yarn" => (RopeScaling.Yarn(rotaryDim, @base, Factor(), Original(), attentionFactor: OptionalReal("rope.scaling.attn_factor"),
                    mscale: yarnMscale, mscaleAllDim: yarnMscale), "yarn"),
                "longrope" => (RopeScaling.LongRope(rotaryDim, @base,
                    tensor("rope_factors_short.weight", rotaryDim / 2) ?? throw new InvalidDataException("Tensor 'rope_factors_short.weight' is required by scaling type 'longrope'."),
                    tensor("rope_factors_long.weight", rotaryDim / 2) ?? throw new InvalidDataException("Tensor 'rope_factors_long.weight' is required by scaling type 'longrope'."),
                    Original(), context ?? throw new InvalidDataException($"{prefix}context_length is required by scaling type 'longrope'."),
                    LongRopeSelection.BySequenceLength, 0, OptionalReal("rope.scaling.attn_factor")), "longrope"),
                _ => throw new InvalidDataException($"{prefix}rope.scaling.type '{Bounded(type)}' is not supported (none, linear, yarn, longrope are)."),
            };

            // llama.cpp divides each pair's frequency by rope_freqs (Llama 3's scaling, converted into factors).
            if (tensor("rope_freqs.weight", rotaryDim / 2) is double[] factors)
            {
                frequencies = RopeScaling.WithFactors(frequencies, factors);
            }

            MropeSections? sections = metadata.TryGetValue(prefix + "rope.dimension_sections", out object? listed) ? Sections(listed, prefix, rotaryDim) : null;
            // DeepSeek's YaRN also scales the softmax, by mscale(s, mscale_all_dim)², as the config.json reader reports it.
            double softmaxScale = yarnMscale is double mscaleAllDim ? RopeScaling.DeepSeekSoftmaxScale(Factor(), mscaleAllDim) : 1;
            return new GgufRopeModel(architecture, new RopeConfiguration(headDim, frequencies, scalingType, context, softmaxScale, sections), layout,
                heads, kvHeads);
        }
        catch (ArgumentException exception)
        {
            throw new InvalidDataException($"The rope metadata of '{Bounded(architecture)}' is out of range: {exception.Message}", exception);
        }
    }

    private static MropeSections Sections(object listed, string prefix, int rotaryDim)
    {
        long[] values = listed as long[] ?? throw new InvalidDataException($"{prefix}rope.dimension_sections must be an array of integers.");
        int pairs = rotaryDim / 2;
        // Each section checked on its own before the sum, so the sum cannot wrap.
        if (values.Length < 3 || values.Any(v => v < 0) || values[0] > pairs || values[1] > pairs || values[2] > pairs
            || values[0] + values[1] + values[2] != pairs)
        {
            throw new InvalidDataException($"{prefix}rope.dimension_sections must start with three non-negative counts summing to rotary_dim / 2 ({pairs}).");
        }

        return MropeSections.Contiguous((int)values[0], (int)values[1], (int)values[2]);
    }

    private static long Integer(object value, string key) => value switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v,
        ulong v when v <= long.MaxValue => (long)v,
        long v => v,
        _ => throw new InvalidDataException($"{Bounded(key)} must be an integer."),
    };

    private static double Real(object value, string key) => value switch
    {
        float v when float.IsFinite(v) => v,
        double v when double.IsFinite(v) => v,
        float or double => throw new InvalidDataException($"{Bounded(key)} must be finite."),
        _ => Integer(value, key),
    };

    /// <summary>What an array the reader skipped unread stands for in the metadata.</summary>
    private static readonly object SkippedArray = new();

    private static string Bounded(string text) => text.Length <= 64 ? text : $"{text[..64]}... ({text.Length} characters)";

    /// <summary>Little-endian reads that check every size against the bytes left.</summary>
    private sealed class Reader(Stream stream)
    {
        private readonly byte[] buffer = new byte[8];

        public long Position => stream.Position;

        private long Left => stream.Length - stream.Position;

        public uint UInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4, what));

        public ulong UInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8, what));

        public string String(string what)
        {
            ulong length = UInt64(what);
            if (length > (ulong)Left || length > 1 << 20)
            {
                throw new InvalidDataException($"The GGUF file is truncated or malformed: {what} claims {length} bytes.");
            }

            byte[] text = new byte[(int)length];
            stream.ReadExactly(text);
            return Encoding.UTF8.GetString(text);
        }

        public object Value(uint type, string key) => type switch
        {
            0 => Bytes(1, key)[0],
            1 => (sbyte)Bytes(1, key)[0],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2, key)),
            3 => BinaryPrimitives.ReadInt16LittleEndian(Bytes(2, key)),
            4 => UInt32(key),
            5 => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4, key)),
            6 => BinaryPrimitives.ReadSingleLittleEndian(Bytes(4, key)),
            7 => Bytes(1, key)[0] != 0,
            8 => String(key),
            9 => Array(key),
            10 => UInt64(key),
            11 => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8, key)),
            12 => BinaryPrimitives.ReadDoubleLittleEndian(Bytes(8, key)),
            _ => throw new InvalidDataException($"GGUF key '{Bounded(key)}' has value type {type} (0 to 12 are valid)."),
        };

        /// <summary>
        /// An array value. Only <c>&lt;arch&gt;.rope.dimension_sections</c> is read (into a long[] when its elements are
        /// integers); every other array, the token lists and scores among them, is skipped unread. Arrays of arrays are
        /// refused, as llama.cpp refuses them; read, they would recurse as deep as a file nests them.
        /// </summary>
        private object Array(string key)
        {
            uint type = UInt32(key);
            if (type == 9)
            {
                throw new InvalidDataException($"GGUF array '{Bounded(key)}' holds arrays; nested arrays are not valid GGUF (llama.cpp refuses them too).");
            }

            ulong count = UInt64(key);
            int size = type switch { 0 or 1 or 7 => 1, 2 or 3 => 2, 4 or 5 or 6 => 4, 10 or 11 or 12 => 8, _ => 0 };
            if (size > 0)
            {
                if (count > (ulong)(Left / size))
                {
                    throw new InvalidDataException($"The GGUF file is truncated: array '{Bounded(key)}' claims {count} values.");
                }

                bool integers = type is not (6 or 7 or 12);
                if (!key.EndsWith(".rope.dimension_sections", StringComparison.Ordinal) || !integers || count > 16)
                {
                    // Not rope data (or not integers, which Sections refuses): skipped unread.
                    stream.Seek((long)count * size, SeekOrigin.Current);
                    return SkippedArray;
                }

                var values = new long[count];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = Integer(Value(type, key), key);
                }

                return values;
            }

            if (type == 8)
            {
                // Each string is at least its 8-byte length: bounded by what is left.
                if (count > (ulong)(Left / 8))
                {
                    throw new InvalidDataException($"The GGUF file is truncated: array '{Bounded(key)}' claims {count} values.");
                }

                for (ulong i = 0; i < count; i++)
                {
                    ulong length = UInt64(key);
                    if (length > (ulong)Left)
                    {
                        throw new InvalidDataException($"The GGUF file is truncated: a string of array '{Bounded(key)}' claims {length} bytes.");
                    }

                    stream.Seek((long)length, SeekOrigin.Current);
                }

                return SkippedArray;
            }

            throw new InvalidDataException($"GGUF array '{Bounded(key)}' has element type {type} (0 to 12 are valid).");
        }

        /// <summary><paramref name="count"/> float32 values of a tensor at <paramref name="offset"/> past the data start.</summary>
        public double[] Floats(long dataStart, ulong offset, int count, string name)
        {
            if (count is <= 0 or > RopeFrequencies.MaxRotaryDim / 2)
            {
                throw new InvalidDataException($"Tensor '{name}' would hold {count} values; a rope tensor holds 1 to {RopeFrequencies.MaxRotaryDim / 2}.");
            }

            if (dataStart < 0 || dataStart > stream.Length || offset > (ulong)(stream.Length - dataStart) || (ulong)count * 4 > (ulong)(stream.Length - dataStart) - offset)
            {
                throw new InvalidDataException($"Tensor '{name}' lies past the end of the file.");
            }

            stream.Seek(dataStart + (long)offset, SeekOrigin.Begin);
            byte[] bytes = new byte[count * 4];
            stream.ReadExactly(bytes);
            var values = new double[count];
            for (int i = 0; i < count; i++)
            {
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
            }

            return values;
        }

        private ReadOnlySpan<byte> Bytes(int count, string what)
        {
            if (Left < count)
            {
                throw new InvalidDataException($"The GGUF file is truncated: {what} is cut off.");
            }

            stream.ReadExactly(buffer, 0, count);
            return buffer.AsSpan(0, count);
        }
    }
}
