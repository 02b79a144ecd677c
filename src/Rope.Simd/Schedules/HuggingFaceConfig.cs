using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Rope.Simd;

/// <summary>What a model's config.json says about its rotary embedding, resolved into frequencies.</summary>
/// <param name="HeadDim">Elements per attention head (head_dim, or hidden_size / num_attention_heads).</param>
/// <param name="Frequencies">ω_i and the attention factor, for the sequence length the config was read for.</param>
/// <param name="ScalingType">The rope type: default, linear, dynamic, yarn, llama3, longrope or proportional.</param>
/// <param name="MaxPositionEmbeddings">max_position_embeddings, or null when absent.</param>
/// <param name="SoftmaxScale">The factor to multiply the attention softmax scale by: YaRN's mscale(s, mscale_all_dim)² when the config gives mscale_all_dim (DeepSeek), else 1.</param>
/// <param name="Sections">Multimodal RoPE sections (mrope_section, interleaved when mrope_interleaved), for <see cref="RopePositions.Multimodal"/>; null otherwise.</param>
public sealed record RopeConfiguration(int HeadDim, RopeFrequencies Frequencies, string ScalingType,
    int? MaxPositionEmbeddings, double SoftmaxScale, MropeSections? Sections = null)
{
    /// <summary>Rotated elements per head (partial_rotary_factor, rotary_pct or rotary_dim applied; the whole head for proportional RoPE).</summary>
    public int RotaryDim => Frequencies.RotaryDim;
}

/// <summary>
/// Reads the rotary-embedding part of a Hugging Face <c>config.json</c> (System.Text.Json): rope_theta, the legacy
/// <c>rope_scaling</c> object or the newer <c>rope_parameters</c> (rotary_emb_base for GPT-NeoX), partial_rotary_factor (or rotary_pct / rotary_dim),
/// head_dim (or hidden_size / num_attention_heads; DeepSeek's qk_rope_head_dim, the rotated slice, wins), max_position_embeddings
/// and original_max_position_embeddings.
/// Fields outside the rope part are ignored; inside it, an unknown or inconsistent field is an error naming it, never
/// a silent default. The pair layout is not in config.json: the caller states it when rotating.
/// </summary>
public static class HuggingFaceConfig
{
    private static readonly Dictionary<string, string[]> FieldsByType = new(StringComparer.Ordinal)
    {
        ["default"] = ["mrope_section", "mrope_interleaved"],
        ["mrope"] = ["mrope_section", "mrope_interleaved"],
        ["linear"] = ["factor"],
        ["dynamic"] = ["factor", "original_max_position_embeddings"],
        ["yarn"] = ["factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor", "mscale", "mscale_all_dim", "truncate"],
        ["llama3"] = ["factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"],
        ["longrope"] = ["factor", "original_max_position_embeddings", "short_factor", "long_factor", "attention_factor"],
        ["proportional"] = ["factor"],
    };

    /// <summary>Reads config.json text.</summary>
    /// <param name="json">The whole config.json.</param>
    /// <param name="sequenceLength">The current sequence length, for the kinds that depend on it (dynamic NTK, LongRoPE by sequence length); 0 at the start.</param>
    /// <param name="longRope">How LongRoPE picks its factors.</param>
    /// <param name="layerType">For rope_parameters given per layer type (e.g. full_attention and sliding_attention), the one to read.</param>
    /// <exception cref="ArgumentException">The JSON is malformed or repeats a key in one object, or a rope field is
    /// missing, unknown, of the wrong kind, inconsistent or outside the range its schedule accepts (the message names
    /// the JSON field and quotes at most a short prefix of any value).</exception>
    public static RopeConfiguration Parse(string json, int sequenceLength = 0, LongRopeSelection longRope = LongRopeSelection.BySequenceLength,
        string? layerType = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        Guard.NonNegative(sequenceLength);
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(json).RootElement;
            RejectDuplicateKeys(root);
        }
        catch (JsonException exception)
        {
            throw new ArgumentException($"config.json is not valid JSON: {Quote(exception.Message)}", nameof(json), exception);
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Error("(root)", "must be a JSON object");
        }

        try
        {
            return Resolve(root, sequenceLength, longRope, layerType);
        }
        catch (InvalidOperationException exception)
        {
            // System.Text.Json cannot turn a string with a lone surrogate escape into a .NET string.
            throw new ArgumentException("config.json holds a string that is not valid UTF-16 (a lone surrogate escape).", nameof(json), exception);
        }
    }

    private static RopeConfiguration Resolve(JsonElement root, int sequenceLength, LongRopeSelection longRope, string? layerType)
    {

        JsonElement? parameters = RopeParameters(root, layerType);
        int headDim = HeadDim(root);
        int rotaryDim = RotaryDim(root, parameters, headDim);
        int? maxPositions = OptionalInt(root, "max_position_embeddings");

        double @base = OptionalNumber(parameters, "rope_theta") is double nested
            ? Consistent("rope_theta", nested, OptionalNumber(root, "rope_theta"))
            : OptionalNumber(root, "rope_theta") ?? OptionalNumber(root, "rotary_emb_base") // GPT-NeoX's name for it
                ?? throw Error("rope_theta", "is missing (neither at the top level nor in rope_parameters)");

        string type = Type(parameters);
        var allowed = new HashSet<string>(FieldsByType.TryGetValue(type, out string[]? fields)
            ? fields
            : throw Error("rope_type", $"{Quote(type)} is not supported (supported: {string.Join(", ", FieldsByType.Keys)})"), StringComparer.Ordinal)
            { "rope_type", "type", "rope_theta", "partial_rotary_factor" };
        if (parameters is JsonElement p)
        {
            foreach (JsonProperty property in p.EnumerateObject())
            {
                if (!allowed.Contains(property.Name))
                {
                    throw Error(Bounded(property.Name), $"is not a field of rope type '{type}'");
                }
            }
        }

        double Factor() => OptionalNumber(parameters, "factor") ?? throw Error("factor", $"is required by rope type '{type}'");
        int OriginalLength() =>
            OptionalInt(parameters, "original_max_position_embeddings") is int nestedLength
                ? (int)Consistent("original_max_position_embeddings", nestedLength, OptionalInt(root, "original_max_position_embeddings"))
                : OptionalInt(root, "original_max_position_embeddings")
                    ?? throw Error("original_max_position_embeddings", $"is required by rope type '{type}'");
        int MaxPositions() => maxPositions ?? throw Error("max_position_embeddings", $"is required by rope type '{type}'");

        double softmaxScale = 1;
        RopeFrequencies frequencies;
        try
        {
            frequencies = Schedule();
        }
        catch (ArgumentException exception) when (exception.ParamName is { } parameter && parameter != "json")
        {
            // The schedule's own check, named after the JSON field its argument came from.
            string field = JsonField(parameter, type);
            throw new ArgumentException(
                $"config.json: {field} is out of range for rope type '{type}': {exception.Message.Replace($" (Parameter '{parameter}')", "", StringComparison.Ordinal)}",
                "json", exception);
        }

        return new RopeConfiguration(headDim, frequencies, type, maxPositions, softmaxScale,
            Sections(parameters, rotaryDim));

        RopeFrequencies Schedule() => type switch
        {
            "default" or "mrope" => RopeFrequencies.Create(rotaryDim, @base),
            "linear" => RopeScaling.Linear(rotaryDim, @base, Factor()),
            "dynamic" => RopeScaling.DynamicNtk(rotaryDim, @base, Factor(), MaxPositions(), sequenceLength),
            "llama3" => RopeScaling.Llama3(rotaryDim, @base, Factor(), OriginalLength(),
                OptionalNumber(parameters, "low_freq_factor") ?? throw Error("low_freq_factor", "is required by rope type 'llama3'"),
                OptionalNumber(parameters, "high_freq_factor") ?? throw Error("high_freq_factor", "is required by rope type 'llama3'")),
            "longrope" => LongRope(parameters!.Value, rotaryDim, @base, OriginalLength(), MaxPositions(), longRope, sequenceLength),
            "proportional" => RopeScaling.Proportional(headDim, @base,
                OptionalNumber(parameters, "partial_rotary_factor") ?? OptionalNumber(root, "partial_rotary_factor") ?? 1.0,
                OptionalNumber(parameters, "factor") ?? 1.0),
            _ => Yarn(parameters!.Value, rotaryDim, @base, Factor(), OriginalLength(), out softmaxScale),
        };
    }

    /// <summary>The config.json field a schedule argument is read from.</summary>
    private static string JsonField(string parameter, string type) => parameter switch
    {
        "base" => "rope_theta",
        "rotaryDim" or "headDim" => "head_dim",
        "factor" => "factor",
        "betaFast" => "beta_fast",
        "betaSlow" => "beta_slow",
        "attentionFactor" => "attention_factor",
        "mscale" => "mscale",
        "mscaleAllDim" => "mscale_all_dim",
        "originalMaxPositionEmbeddings" => "original_max_position_embeddings",
        "maxPositionEmbeddings" => "max_position_embeddings",
        "lowFrequencyFactor" => "low_freq_factor",
        "highFrequencyFactor" => "high_freq_factor",
        "shortFactor" => "short_factor",
        "longFactor" => "long_factor",
        "partialRotaryFactor" => "partial_rotary_factor",
        "sequenceLength" => "sequenceLength (the argument)",
        _ => $"the rope parameters of type '{type}'",
    };

    /// <summary>Reads a config.json file (see <see cref="Parse"/>).</summary>
    /// <param name="path">Path to config.json.</param>
    /// <param name="sequenceLength">The current sequence length, for dynamic NTK and LongRoPE by sequence length.</param>
    /// <param name="longRope">How LongRoPE picks its factors.</param>
    /// <param name="layerType">For rope_parameters given per layer type, the one to read.</param>
    /// <exception cref="ArgumentException">A rope field is missing, unknown, of the wrong kind or inconsistent.</exception>
    public static RopeConfiguration Load(string path, int sequenceLength = 0, LongRopeSelection longRope = LongRopeSelection.BySequenceLength,
        string? layerType = null) =>
        Parse(File.ReadAllText(path), sequenceLength, longRope, layerType);

    private static RopeFrequencies Yarn(JsonElement parameters, int rotaryDim, double @base, double factor, int originalLength, out double softmaxScale)
    {
        double? mscaleAllDim = OptionalNumber(parameters, "mscale_all_dim");
        softmaxScale = mscaleAllDim is double all ? RopeScaling.DeepSeekSoftmaxScale(factor, all) : 1;
        // DeepSeekSoftmaxScale checks the same factor and mscale_all_dim that Yarn below checks, with the same names.
        bool truncate = !parameters.TryGetProperty("truncate", out JsonElement t) || (t.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? t.GetBoolean()
            : throw Error("truncate", "must be true or false"));
        return RopeScaling.Yarn(rotaryDim, @base, factor, originalLength,
            OptionalNumber(parameters, "beta_fast") ?? 32, OptionalNumber(parameters, "beta_slow") ?? 1, truncate,
            OptionalNumber(parameters, "attention_factor"), OptionalNumber(parameters, "mscale"), mscaleAllDim);
    }

    private static RopeFrequencies LongRope(JsonElement parameters, int rotaryDim, double @base, int originalLength,
        int maxPositions, LongRopeSelection selection, int sequenceLength)
    {
        double[] shortFactor = Numbers(parameters, "short_factor"), longFactor = Numbers(parameters, "long_factor");
        if (OptionalNumber(parameters, "factor") is double factor && Math.Abs(factor - (double)maxPositions / originalLength) > 1e-9 * factor)
        {
            throw Error("factor", $"is {factor} but max_position_embeddings / original_max_position_embeddings is {(double)maxPositions / originalLength}");
        }

        return RopeScaling.LongRope(rotaryDim, @base, shortFactor, longFactor, originalLength, maxPositions, selection, sequenceLength,
            OptionalNumber(parameters, "attention_factor"));
    }

    private static MropeSections? Sections(JsonElement? parameters, int rotaryDim)
    {
        if (parameters is not JsonElement p || !p.TryGetProperty("mrope_section", out _))
        {
            return null;
        }

        double[] section = Numbers(p, "mrope_section");
        if (section.Length != 3 || section.Any(v => v < 0 || v != Math.Floor(v)) || section.Sum() != rotaryDim / 2)
        {
            throw Error("mrope_section", $"must be three non-negative integers summing to rotary_dim / 2 ({rotaryDim / 2})");
        }

        bool interleaved = p.TryGetProperty("mrope_interleaved", out JsonElement flag) && (flag.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? flag.GetBoolean()
            : throw Error("mrope_interleaved", "must be true or false"));
        return interleaved
            ? MropeSections.Interleaved((int)section[0], (int)section[1], (int)section[2])
            : MropeSections.Contiguous((int)section[0], (int)section[1], (int)section[2]);
    }

    private static JsonElement? RopeParameters(JsonElement root, string? layerType)
    {
        bool hasScaling = root.TryGetProperty("rope_scaling", out JsonElement scaling) && scaling.ValueKind != JsonValueKind.Null;
        bool hasParameters = root.TryGetProperty("rope_parameters", out JsonElement parameters) && parameters.ValueKind != JsonValueKind.Null;
        if (hasScaling && hasParameters)
        {
            throw Error("rope_parameters", "and rope_scaling are both present; a config uses one");
        }

        if (!hasScaling && !hasParameters)
        {
            return null;
        }

        JsonElement chosen = hasParameters ? parameters : scaling;
        string name = hasParameters ? "rope_parameters" : "rope_scaling";
        if (chosen.ValueKind != JsonValueKind.Object)
        {
            throw Error(name, "must be an object");
        }

        // Per layer type: { "full_attention": {...}, "sliding_attention": {...} }.
        bool nested = chosen.EnumerateObject().Any(p => p.Value.ValueKind == JsonValueKind.Object);
        if (nested)
        {
            string[] types = [.. chosen.EnumerateObject().Select(p => p.Name)];
            if (layerType is null || !chosen.TryGetProperty(layerType, out JsonElement perLayer))
            {
                throw Error(name, $"is given per layer type ({string.Join(", ", types.Take(8).Select(Quote))}{(types.Length > 8 ? ", ..." : "")}); pass the layer type to read");
            }

            return perLayer;
        }

        return chosen;
    }

    private static string Type(JsonElement? parameters)
    {
        if (parameters is not JsonElement p)
        {
            return "default";
        }

        string? ropeType = OptionalString(p, "rope_type"), legacy = OptionalString(p, "type");
        if (ropeType is not null && legacy is not null && ropeType != legacy)
        {
            throw Error("type", $"is {Quote(legacy)} but rope_type is {Quote(ropeType)}");
        }

        string type = ropeType ?? legacy ?? throw Error("rope_type", "is missing from the rope parameters");
        return type switch
        {
            "su" => "longrope",
            _ => type,
        };
    }

    private static int HeadDim(JsonElement root)
    {
        // DeepSeek's multi-head latent attention rotates a separate slice of qk_rope_head_dim per head.
        if (OptionalInt(root, "qk_rope_head_dim") is int ropeSlice)
        {
            return ropeSlice > 0 && ropeSlice % 2 == 0 ? ropeSlice : throw Error("qk_rope_head_dim", $"is {ropeSlice}; it must be positive and even");
        }

        if (OptionalInt(root, "head_dim") is int headDim)
        {
            return headDim > 0 && headDim % 2 == 0 ? headDim : throw Error("head_dim", $"is {headDim}; it must be positive and even");
        }

        int hidden = OptionalInt(root, "hidden_size") ?? throw Error("head_dim", "is missing, and so is hidden_size to derive it");
        int heads = OptionalInt(root, "num_attention_heads") ?? throw Error("head_dim", "is missing, and so is num_attention_heads to derive it");
        if (hidden <= 0)
        {
            throw Error("hidden_size", $"is {hidden}; it must be positive");
        }

        if (heads <= 0)
        {
            throw Error("num_attention_heads", $"is {heads}; it must be positive");
        }

        if ( hidden % heads != 0 || hidden / heads % 2 != 0)
        {
            throw Error("num_attention_heads", $"({heads}) does not divide hidden_size ({hidden}) into even heads");
        }

        return hidden / heads;
    }

    private static int RotaryDim(JsonElement root, JsonElement? parameters, int headDim)
    {
        double? factor = OptionalNumber(parameters, "partial_rotary_factor") is double nested
            ? Consistent("partial_rotary_factor", nested, OptionalNumber(root, "partial_rotary_factor"))
            : OptionalNumber(root, "partial_rotary_factor") ?? OptionalNumber(root, "rotary_pct");
        int? absolute = OptionalInt(root, "rotary_dim");
        if (factor is double f && absolute is int a && (int)(headDim * f) != a)
        {
            throw Error("rotary_dim", $"is {a} but the partial rotary factor gives {(int)(headDim * f)}");
        }

        if (factor is double share && !(share > 0 && share <= 1))
        {
            throw Error("partial_rotary_factor", $"is {share}; it must be in (0, 1]");
        }

        int rotaryDim = absolute ?? (factor is double g ? (int)(headDim * g) : headDim);
        if (rotaryDim > RopeFrequencies.MaxRotaryDim)
        {
            throw Error(absolute is null ? "head_dim" : "rotary_dim",
                $"gives a rotary dim of {rotaryDim}, above the {RopeFrequencies.MaxRotaryDim} Rope.Simd accepts");
        }

        return rotaryDim > 0 && rotaryDim % 2 == 0 && rotaryDim <= headDim
            ? rotaryDim
            : throw Error("partial_rotary_factor", $"gives a rotary dim of {rotaryDim}; it must be positive, even and at most head_dim {headDim}");
    }

    private static double Consistent(string field, double nested, double? topLevel) =>
        topLevel is double top && top != nested
            ? throw Error(field, $"is {top} at the top level but {nested} in the rope parameters")
            : nested;

    private static double? OptionalNumber(JsonElement? element, string name)
    {
        if (element is not JsonElement e || !e.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double number) && double.IsFinite(number)
            ? number
            : throw Error(name, $"must be a finite number, not {Describe(value)}");
    }

    private static int? OptionalInt(JsonElement? element, string name) =>
        OptionalNumber(element, name) is double number
            ? number == Math.Floor(number) && number is >= int.MinValue and <= int.MaxValue
                ? (int)number
                : throw Error(name, $"must be an integer, not {number.ToString(CultureInfo.InvariantCulture)}")
            : null;

    private static string? OptionalString(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind != JsonValueKind.Null
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : throw Error(name, $"must be a string, not {Describe(value)}")
            : null;

    private static double[] Numbers(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Array
            ? [.. value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double number) && double.IsFinite(number)
                ? number
                : throw Error(name, $"must hold finite numbers only, not {Describe(v)}"))]
            : throw Error(name, "must be an array of numbers");

    private static ArgumentException Error(string field, string problem) => new($"config.json: {field} {problem}.", "json");

    /// <summary>Throws if an object anywhere in the document repeats a key (JSON leaves it open; silently taking one would hide a mistake).</summary>
    private static void RejectDuplicateKeys(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in element.EnumerateArray())
            {
                RejectDuplicateKeys(item);
            }
        }
        else if (element.ValueKind == JsonValueKind.Object)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in element.EnumerateObject())
            {
                string name;
                try
                {
                    name = property.Name;
                }
                catch (InvalidOperationException exception)
                {
                    throw new ArgumentException("config.json holds a key that is not valid UTF-16 (a lone surrogate escape).", "json", exception);
                }

                if (!seen.Add(name))
                {
                    throw Error(Bounded(name), "appears twice in one object; a key may appear once");
                }

                RejectDuplicateKeys(property.Value);
            }
        }
    }

    private const int QuotedLength = 64;

    /// <summary>The text in quotes, cut to its first characters when long, so a message never copies a whole hostile value.</summary>
    private static string Quote(string? text) => text is null ? "null" : $"'{Bounded(text)}'";

    /// <summary>The text, or its first characters and its length when long.</summary>
    private static string Bounded(string text) =>
        text.Length <= QuotedLength ? text : $"{text[..QuotedLength]}... ({text.Length} characters)";

    /// <summary>A JSON value's kind and the start of its text, read without copying the whole value.</summary>
    private static string Describe(JsonElement value)
    {
        ReadOnlySpan<byte> raw = JsonMarshal.GetRawUtf8Value(value);
        string start = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, QuotedLength)]);
        return $"{value.ValueKind.ToString().ToLowerInvariant()} {start}{(raw.Length > QuotedLength ? $"... ({raw.Length} bytes)" : "")}";
    }
}
