using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Rope.Simd.Models;

/// <summary>
/// A GGUF file (llama.cpp's format, versions 2 and 3), read as llama.cpp reads it: the header's metadata (scalars and
/// strings; arrays other than <c>&lt;arch&gt;.rope.dimension_sections</c>, such as the tokenizer's lists, are skipped
/// unread) and its tensor directory (<see cref="Tensors"/>: name, shape, ggml type and offset of each tensor), with a
/// tensor's data read when asked for (<see cref="ReadTensor"/>). <see cref="ReadRopeModel"/> resolves the model's
/// rotary embedding from the header the way llama.cpp does.
/// </summary>
/// <remarks>
/// <para>Every size read from the file (string lengths, array counts, key and tensor counts, dimensions, offsets) is
/// checked against the bytes left, in checked arithmetic, before anything is allocated or skipped, so the work and the
/// memory grow with the header's size, never with the sizes it claims; arrays of arrays are refused, as llama.cpp
/// refuses them; keys and tensor names may appear once. A malformed file is an <see cref="InvalidDataException"/>
/// naming the key, the tensor or the place (quoting at most the first 64 characters of a name), never a hang or an
/// allocation the file merely claims.</para>
/// <para>Metadata reads are thread-safe; <see cref="ReadTensor"/> and <see cref="ReadRopeModel"/> seek the stream, so
/// one thread at a time calls them. Dispose the file to close the stream (unless it was read with leaveOpen).</para>
/// </remarks>
public sealed class GgufFile : IDisposable
{
    private const uint Magic = 0x46554747; // "GGUF", little-endian
    private const int DefaultAlignment = 32;

    /// <summary>The most elements a tensor may have, 2^62 (llama.cpp's bound: its size in bytes fits an int64).</summary>
    private const long MaxElements = 1L << 62;

    private const uint TypeF32 = 0, TypeF16 = 1;

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

    private readonly Stream stream;
    private readonly bool leaveOpen;
    private readonly Reader reader;
    private readonly Dictionary<string, object> metadata = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GgufTensor> tensors = new(StringComparer.Ordinal);
    private readonly long dataStart;
    private readonly long alignment;
    private bool disposed;

    private GgufFile(Stream stream, bool leaveOpen)
    {
        this.stream = stream;
        this.leaveOpen = leaveOpen;
        reader = new Reader(stream);
        long origin = stream.Position;
        if (reader.UInt32("the magic") != Magic)
        {
            throw new InvalidDataException("Not a GGUF file: the first four bytes are not 'GGUF'.");
        }

        uint version = reader.UInt32("the version");
        if (version is not (2 or 3))
        {
            throw new InvalidDataException($"GGUF version {version} is not supported (2 and 3 are).");
        }

        // Each key takes at least 13 bytes (its name's length, its type, a one-byte value) and each tensor info 32 (its
        // name's length, the dimension count, one dimension, the type, the offset): counts the file cannot hold are
        // refused before anything is read for them.
        ulong tensorCount = reader.UInt64("the tensor count"), keyCount = reader.UInt64("the metadata count");
        if (keyCount > (ulong)reader.Left / 13 || tensorCount > (ulong)reader.Left / 32)
        {
            throw new InvalidDataException($"The GGUF file claims {keyCount} metadata keys and {tensorCount} tensors; it is too short for them.");
        }

        for (ulong i = 0; i < keyCount; i++)
        {
            string key = reader.String("a metadata key");
            object value = reader.Value(reader.UInt32($"the type of '{Bounded(key)}'"), key);
            if (!metadata.TryAdd(key, value))
            {
                throw new InvalidDataException($"GGUF key '{Bounded(key)}' appears twice.");
            }
        }

        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = reader.String("a tensor name");
            uint dimensions = reader.UInt32($"the dimension count of tensor '{Bounded(name)}'");
            if (dimensions is 0 or > 4)
            {
                throw new InvalidDataException($"Tensor '{Bounded(name)}' has {dimensions} dimensions (1 to 4 are valid).");
            }

            var shape = new long[dimensions];
            long elements = 1;
            for (int d = 0; d < shape.Length; d++)
            {
                ulong size = reader.UInt64($"a dimension of tensor '{Bounded(name)}'");
                if (size > MaxElements || (size != 0 && elements > MaxElements / (long)size))
                {
                    throw new InvalidDataException($"Tensor '{Bounded(name)}': dimension {d} of {size} makes more than 2^62 elements.");
                }

                shape[d] = (long)size;
                elements *= (long)size;
            }

            uint type = reader.UInt32($"the type of tensor '{Bounded(name)}'");
            ulong offset = reader.UInt64($"the offset of tensor '{Bounded(name)}'");
            if (!tensors.TryAdd(name, new GgufTensor(name, shape, elements, type, offset)))
            {
                throw new InvalidDataException($"Tensor '{Bounded(name)}' is listed twice.");
            }
        }

        alignment = metadata.TryGetValue("general.alignment", out object? aligned) ? Integer(aligned, "general.alignment") : DefaultAlignment;
        if (alignment <= 0 || alignment > 1 << 20 || (alignment & (alignment - 1)) != 0)
        {
            throw new InvalidDataException($"general.alignment is {alignment}; it must be a power of two up to 2^20.");
        }

        // A stream may claim any length: the rounding up is kept from wrapping (the reads check the data lies in the file).
        dataStart = reader.Position <= long.MaxValue - alignment
            ? origin + (reader.Position - origin + alignment - 1) / alignment * alignment
            : throw new InvalidDataException("The GGUF file is malformed: its tensor data would start past 2^63 bytes.");
    }

    /// <summary>Opens and reads a GGUF file's header (see the type's remarks); the file stays open until disposed.</summary>
    /// <param name="path">The .gguf file.</param>
    /// <exception cref="InvalidDataException">The file is not GGUF, or its header is truncated or malformed.</exception>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static GgufFile Open(string path) => Read(File.OpenRead(path));

    /// <summary>Reads a GGUF header from a seekable stream positioned at the file's first byte.</summary>
    /// <param name="stream">The file's bytes: readable and seekable.</param>
    /// <param name="leaveOpen">Whether disposing the file (or a failed read) leaves the stream open.</param>
    /// <exception cref="ArgumentException">The stream cannot read or seek.</exception>
    /// <exception cref="InvalidDataException">The stream does not hold GGUF, or its header is truncated or malformed.</exception>
    public static GgufFile Read(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead || !stream.CanSeek)
        {
            throw new ArgumentException("The stream must be readable and seekable.", nameof(stream));
        }

        try
        {
            return new GgufFile(stream, leaveOpen);
        }
        catch
        {
            if (!leaveOpen)
            {
                stream.Dispose();
            }

            throw;
        }
    }

    /// <summary>The tensor directory by name: each tensor's shape, ggml type and offset (no data is read for it).</summary>
    public IReadOnlyDictionary<string, GgufTensor> Tensors => tensors;

    /// <summary>Whether the header has the key (an array's too, although arrays are skipped unread).</summary>
    public bool ContainsKey(string key) => metadata.ContainsKey(key);

    /// <summary>An integer value (any of GGUF's integer types; uint64 up to 2^63 - 1), or null where the header lacks the key.</summary>
    /// <exception cref="InvalidDataException">The value is not an integer.</exception>
    public long? GetInteger(string key) => metadata.TryGetValue(key, out object? value) ? Integer(value, key) : null;

    /// <summary>A number value (float32, float64 or an integer type) as a double, or null where the header lacks the key.</summary>
    /// <exception cref="InvalidDataException">The value is not a number, or is not finite.</exception>
    public double? GetNumber(string key) => metadata.TryGetValue(key, out object? value) ? Real(value, key) : null;

    /// <summary>A string value, or null where the header lacks the key.</summary>
    /// <exception cref="InvalidDataException">The value is not a string.</exception>
    public string? GetString(string key) => metadata.TryGetValue(key, out object? value)
        ? value as string ?? throw new InvalidDataException($"{Bounded(key)} must be a string.")
        : null;

    /// <summary>
    /// A float32 (ggml type 0) or float16 (type 1) tensor's values in storage order (ne0 fastest), widened to float32
    /// exactly. Its place is checked first: aligned to general.alignment and inside the file.
    /// </summary>
    /// <param name="name">The tensor's name, e.g. <c>blk.0.attn_q.weight</c>.</param>
    /// <exception cref="InvalidDataException">The file has no such tensor, or it is of another type, misaligned, past the end of the file or larger than an array holds.</exception>
    /// <exception cref="ObjectDisposedException">The file is disposed.</exception>
    public float[] ReadTensor(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(disposed, this);
        GgufTensor tensor = tensors.TryGetValue(name, out GgufTensor? found) ? found : throw new InvalidDataException($"The GGUF file has no tensor '{Bounded(name)}'.");
        int elementSize = tensor.Type switch
        {
            TypeF32 => 4,
            TypeF16 => 2,
            _ => throw new InvalidDataException($"Tensor '{Bounded(name)}' is of ggml type {tensor.Type}; float32 (0) and float16 (1) are read."),
        };

        if (tensor.ElementCount > Array.MaxLength)
        {
            throw new InvalidDataException($"Tensor '{Bounded(name)}' has {tensor.ElementCount} elements, more than an array holds.");
        }

        if (tensor.Offset % (ulong)alignment != 0)
        {
            throw new InvalidDataException($"Tensor '{Bounded(name)}' starts at offset {tensor.Offset}, not a multiple of the alignment {alignment}.");
        }

        // Below 2^31 elements, the byte length fits a long; the offset is checked against the file before it is added.
        long length = tensor.ElementCount * elementSize, available = stream.Length - dataStart;
        if (available < 0 || tensor.Offset > (ulong)available || length > available - (long)tensor.Offset)
        {
            throw new InvalidDataException($"Tensor '{Bounded(name)}' ({length} bytes at offset {tensor.Offset}) lies outside the file's {Math.Max(available, 0)} bytes of data.");
        }

        var values = new float[tensor.ElementCount];
        try
        {
            stream.Seek(dataStart + (long)tensor.Offset, SeekOrigin.Begin);
            if (tensor.Type == TypeF32)
            {
                stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
                if (!BitConverter.IsLittleEndian)
                {
                    Span<int> words = MemoryMarshal.Cast<float, int>(values.AsSpan());
                    BinaryPrimitives.ReverseEndianness(words, words);
                }
            }
            else
            {
                var halves = new Half[tensor.ElementCount];
                stream.ReadExactly(MemoryMarshal.AsBytes(halves.AsSpan()));
                if (!BitConverter.IsLittleEndian)
                {
                    Span<short> words = MemoryMarshal.Cast<Half, short>(halves.AsSpan());
                    BinaryPrimitives.ReverseEndianness(words, words);
                }

                RopeEngine.Default.ConvertToSingle(halves, values);
            }
        }
        catch (EndOfStreamException exception)
        {
            throw new InvalidDataException($"The GGUF file is truncated: tensor '{Bounded(name)}' is cut off.", exception);
        }

        return values;
    }

    /// <summary>
    /// The model's rotary embedding as llama.cpp reads it: general.architecture (the <see cref="RopeModel.Name"/>),
    /// &lt;arch&gt;.attention.head_count and .head_count_kv, .attention.key_length (else .embedding_length / heads),
    /// .rope.dimension_count (default the head dim), .rope.freq_base (default 10000), .rope.scaling.type none / linear /
    /// yarn / longrope with .factor (or .rope.scale_linear), .original_context_length, .attn_factor and DeepSeek's
    /// .yarn_log_multiplier (0.1·mscale_all_dim), .rope.dimension_sections (M-RoPE), .context_length, the
    /// <c>rope_freqs.weight</c> tensor (per-pair frequency divisors, float32: Llama 3's scaling as the converters store
    /// it) and LongRoPE's <c>rope_factors_short/long.weight</c>, whose bytes alone are read; and the pair layout
    /// llama.cpp rotates the architecture with (<see cref="RopeLayout.Interleaved"/>, ggml's normal mode, for llama
    /// and the others in normal mode; <see cref="RopeLayout.HalfSplit"/>, NeoX mode, for qwen2, gemma, phi3, falcon, ...).
    /// </summary>
    /// <remarks>The rotary dim is checked against <see cref="RopeFrequencies.MaxRotaryDim"/> before any tensor is read.</remarks>
    /// <exception cref="InvalidDataException">The architecture is not one whose rope mode Rope.Simd knows, or the rope metadata is missing, of the wrong type or out of range, or a rope tensor is missing, of the wrong type or length, or past the end of the file.</exception>
    /// <exception cref="ObjectDisposedException">The file is disposed.</exception>
    public RopeModel ReadRopeModel()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        string architecture = metadata.TryGetValue("general.architecture", out object? arch) && arch is string named
            ? named
            : throw new InvalidDataException("general.architecture is missing or not a string.");
        RopeLayout layout = NeoXArchitectures.Contains(architecture) ? RopeLayout.HalfSplit
            : NormalArchitectures.Contains(architecture) ? RopeLayout.Interleaved
            : throw new InvalidDataException($"general.architecture '{Bounded(architecture)}' is not one whose rope mode Rope.Simd knows.");

        // A rope tensor: float32, one value per pair; only its bytes are read.
        double[]? Tensor(string name, int pairs)
        {
            if (!tensors.TryGetValue(name, out GgufTensor? tensor))
            {
                return null;
            }

            if (tensor.Type != TypeF32)
            {
                throw new InvalidDataException($"Tensor '{name}' is of ggml type {tensor.Type}; rope data must be float32 (type 0).");
            }

            if (tensor.ElementCount != pairs)
            {
                throw new InvalidDataException($"Tensor '{name}' holds {tensor.ElementCount} values but the rotary dim has {pairs} pairs.");
            }

            return reader.Floats(dataStart, tensor.Offset, pairs, name);
        }

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
                    Tensor("rope_factors_short.weight", rotaryDim / 2) ?? throw new InvalidDataException("Tensor 'rope_factors_short.weight' is required by scaling type 'longrope'."),
                    Tensor("rope_factors_long.weight", rotaryDim / 2) ?? throw new InvalidDataException("Tensor 'rope_factors_long.weight' is required by scaling type 'longrope'."),
                    Original(), context ?? throw new InvalidDataException($"{prefix}context_length is required by scaling type 'longrope'."),
                    LongRopeSelection.BySequenceLength, 0, OptionalReal("rope.scaling.attn_factor")), "longrope"),
                _ => throw new InvalidDataException($"{prefix}rope.scaling.type '{Bounded(type)}' is not supported (none, linear, yarn, longrope are)."),
            };

            // llama.cpp divides each pair's frequency by rope_freqs (Llama 3's scaling, converted into factors).
            if (Tensor("rope_freqs.weight", rotaryDim / 2) is double[] factors)
            {
                frequencies = RopeScaling.WithFactors(frequencies, factors);
            }

            MropeSections? sections = metadata.TryGetValue(prefix + "rope.dimension_sections", out object? listed) ? Sections(listed, prefix, rotaryDim) : null;
            // DeepSeek's YaRN also scales the softmax, by mscale(s, mscale_all_dim)², as the config.json reader reports it.
            double softmaxScale = yarnMscale is double mscaleAllDim ? RopeScaling.DeepSeekSoftmaxScale(Factor(), mscaleAllDim) : 1;
            return new RopeModel(architecture, headDim, frequencies)
            {
                QueryHeads = heads, KeyValueHeads = kvHeads, Layout = layout, ScalingType = scalingType, MaxPositionEmbeddings = context,
                SoftmaxScale = softmaxScale, Sections = sections,
            };
        }
        catch (ArgumentException exception)
        {
            throw new InvalidDataException($"The rope metadata of '{Bounded(architecture)}' is out of range: {exception.Message}", exception);
        }
    }

    /// <summary>Closes the stream, unless the file was read with leaveOpen.</summary>
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            if (!leaveOpen)
            {
                stream.Dispose();
            }
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

        public long Left => stream.Length - stream.Position;

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
