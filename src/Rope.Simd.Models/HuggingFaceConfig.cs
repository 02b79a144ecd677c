using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Rope.Simd.Models;

/// <summary>
/// Reads the rotary-embedding part of a Hugging Face <c>config.json</c> (System.Text.Json): rope_theta, the legacy
/// <c>rope_scaling</c> object or the newer <c>rope_parameters</c> (rotary_emb_base for GPT-NeoX), partial_rotary_factor (or rotary_pct / rope_pct / rotary_dim),
/// head_dim (or hidden_size / num_attention_heads, GPT-J's n_embd / n_head, ChatGLM's kv_channels; DeepSeek's qk_rope_head_dim, the rotated slice, wins), max_position_embeddings
/// (GPT-J's n_positions) and original_max_position_embeddings. A multimodal wrapper's <c>text_config</c> is read where
/// the text model's fields are. Where the config leaves out a field its model_type's transformers config class
/// defaults (head_dim, hidden_size, num_attention_heads, num_hidden_layers, max_position_embeddings, rope_theta,
/// partial_rotary_factor, Gemma 3's rope_local_base_freq and sliding_window_pattern, ...), that default applies, for
/// the model types listed in docs/scaling.md; an unknown model_type without rope_theta is an error.
/// Fields outside the rope part are ignored; inside it, an unknown or inconsistent field is an error naming it, never
/// a silent default. The result is a <see cref="RopeModel"/> named after the model_type, with the query heads
/// (num_attention_heads) and, where the config gives num_key_value_heads, the key/value heads; the pair layout is not in
/// config.json (<see cref="RopeModel.Layout"/> is null): the caller states it when rotating.
/// </summary>
public static class HuggingFaceConfig
{
    /// <summary>The most layers <see cref="ParseLayers"/> lists (published models have a few hundred at most).</summary>
    private const int MaxLayers = 1 << 16;

    /// <summary>
    /// The most distinct rope schedules <see cref="ParseLayers"/> resolves (published models have up to three): each costs
    /// up to <see cref="RopeFrequencies.MaxRotaryDim"/>/2 doubles from a few bytes of JSON.
    /// </summary>
    private const int MaxSchedules = 64;

    private static readonly Dictionary<string, string[]> FieldsByType = new(StringComparer.Ordinal)
    {
        ["default"] = ["mrope_section", "mrope_interleaved"],
        ["mrope"] = ["mrope_section", "mrope_interleaved"],
        ["linear"] = ["factor"],
        ["dynamic"] = ["factor", "original_max_position_embeddings"],
        ["yarn"] = ["factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor", "mscale", "mscale_all_dim", "truncate"],
        ["llama3"] = ["factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"],
        ["longrope"] = ["factor", "original_max_position_embeddings", "short_factor", "long_factor", "attention_factor", "short_mscale", "long_mscale"],
        ["proportional"] = ["factor"],
    };

    /// <summary>Reads config.json text into the model's rotary embedding.</summary>
    /// <param name="json">The whole config.json.</param>
    /// <param name="sequenceLength">The current sequence length, for the kinds that depend on it (dynamic NTK, LongRoPE by sequence length); 0 at the start.</param>
    /// <param name="longRope">How LongRoPE picks its factors.</param>
    /// <param name="layerType">For rope_parameters given per layer type (e.g. full_attention and sliding_attention), the one to read.</param>
    /// <exception cref="ArgumentException">The JSON is malformed or repeats a key in one object, or a rope field is
    /// missing, unknown, of the wrong kind, inconsistent or outside the range its schedule accepts, or a head count is
    /// not a positive integer (the message names the JSON field and quotes at most a short prefix of any value).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequenceLength"/> is negative.</exception>
    public static RopeModel Parse(string json, int sequenceLength = 0, LongRopeSelection longRope = LongRopeSelection.BySequenceLength,
        string? layerType = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequenceLength);
        JsonElement root = Document(json);
        return Guarded(() => Resolve(TextModel(root), ModelType(root), sequenceLength, longRope, layerType));
    }

    /// <summary>
    /// Reads config.json text into every layer's schedule: layer_types where the config lists them, Gemma 3's
    /// sliding_window_pattern (every n-th layer full attention at rope_theta with the rope scaling, the others sliding
    /// at rope_local_base_freq), Llama 4's no_rope_layers (0: no rotary embedding in that layer), else one schedule for
    /// every layer.
    /// </summary>
    /// <param name="json">The whole config.json.</param>
    /// <param name="sequenceLength">The current sequence length, for the kinds that depend on it; 0 at the start.</param>
    /// <param name="longRope">How LongRoPE picks its factors.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequenceLength"/> is negative.</exception>
    /// <exception cref="ArgumentException">As <see cref="Parse"/>, or num_hidden_layers, layer_types or no_rope_layers are
    /// missing or do not agree, num_hidden_layers is above 65536, a listed layer type has no rope_parameters entry, or
    /// the layer types need more than 64 distinct rope schedules.</exception>
    public static RopeLayerSchedule ParseLayers(string json, int sequenceLength = 0, LongRopeSelection longRope = LongRopeSelection.BySequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequenceLength);
        JsonElement root = Document(json);
        return Guarded(() =>
        {
            JsonElement text = TextModel(root);
            string? modelType = ModelType(root);
            string[] types = LayerTypes(text, modelType);
            // rope_parameters per layer type, indexed once; each distinct parameter set (by its JSON text) is resolved
            // once and its configuration shared by every layer type that gives it.
            Dictionary<string, JsonElement>? perTypeParameters = PerTypeParameters(text);
            bool perType = perTypeParameters is not null || LocalBase(text, modelType) is not null;
            var schedules = new Dictionary<string, RopeModel>(StringComparer.Ordinal);
            var resolved = new Dictionary<string, RopeModel>(StringComparer.Ordinal);
            foreach (string type in types)
            {
                if (type == RopeLayerSchedule.NoRope || schedules.ContainsKey(type))
                {
                    continue;
                }

                JsonElement? parameters = null;
                string key = "";
                if (perTypeParameters is not null)
                {
                    parameters = PerTypeEntry(perTypeParameters, "rope_parameters", type, listed: true);
                    key = Encoding.UTF8.GetString(JsonMarshal.GetRawUtf8Value(parameters.Value));
                }
                else if (perType)
                {
                    key = type;
                }

                if (!resolved.TryGetValue(key, out RopeModel? configuration))
                {
                    if (resolved.Count == MaxSchedules)
                    {
                        throw Error("rope_parameters", $"give the layer types more than {MaxSchedules} distinct rope schedules; Rope.Simd reads at most {MaxSchedules}");
                    }

                    configuration = Resolve(text, modelType, sequenceLength, longRope, perType ? type : null, parameters);
                    resolved.Add(key, configuration);
                }

                schedules.Add(type, configuration);
            }

            return new RopeLayerSchedule(types, schedules);
        });
    }

    private static JsonElement Document(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
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

        return root.ValueKind == JsonValueKind.Object ? root : throw Error("(root)", "must be a JSON object");
    }

    private static T Guarded<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (InvalidOperationException exception)
        {
            // System.Text.Json cannot turn a string with a lone surrogate escape into a .NET string.
            throw new ArgumentException("config.json holds a string that is not valid UTF-16 (a lone surrogate escape).", "json", exception);
        }
    }

    /// <summary>The text model's part of the config: a multimodal wrapper's text_config where the root holds none of its fields.</summary>
    private static JsonElement TextModel(JsonElement root)
    {
        string[] textFields = ["head_dim", "hidden_size", "n_embd", "qk_rope_head_dim", "kv_channels", "rope_theta", "rope_scaling", "rope_parameters"];
        return root.TryGetProperty("text_config", out JsonElement text) && text.ValueKind == JsonValueKind.Object
            && !textFields.Any(field => root.TryGetProperty(field, out _))
            ? text
            : root;
    }

    /// <summary>The text model's model_type (the wrapper's where text_config has none).</summary>
    private static string? ModelType(JsonElement root) => OptionalString(TextModel(root), "model_type") ?? OptionalString(root, "model_type");

    /// <summary>
    /// The defaults of each model_type's transformers config class for the fields Rope.Simd reads, applied where the
    /// config leaves the field out (a config.json stores only what differs from its class's defaults).
    /// </summary>
    private static readonly Dictionary<string, Dictionary<string, double>> ModelDefaults = BuildModelDefaults();

    private static Dictionary<string, Dictionary<string, double>> BuildModelDefaults()
    {
        static Dictionary<string, double> Model(double hidden, double heads, double layers, double maxPositions, double theta) =>
            new(StringComparer.Ordinal)
            {
                ["hidden_size"] = hidden, ["num_attention_heads"] = heads, ["num_hidden_layers"] = layers,
                ["max_position_embeddings"] = maxPositions, ["rope_theta"] = theta,
            };

        Dictionary<string, double> gemma3 = Model(2304, 8, 26, 131072, 1e6);
        gemma3["head_dim"] = 256;
        gemma3["rope_local_base_freq"] = 10000;
        gemma3["sliding_window_pattern"] = 6;
        Dictionary<string, double> llama4 = Model(5120, 40, 48, 4096 * 32, 500000);
        llama4["head_dim"] = 128;
        llama4["no_rope_layer_interval"] = 4;
        Dictionary<string, double> olmo = Model(4096, 32, 32, 2048, 10000);
        var defaults = new Dictionary<string, Dictionary<string, double>>(StringComparer.Ordinal)
        {
            ["llama"] = Model(4096, 32, 32, 2048, 10000),
            ["mistral"] = Model(4096, 32, 32, 4096 * 32, 10000),
            ["mixtral"] = Model(4096, 32, 32, 4096 * 32, 1e6),
            ["qwen2"] = Model(4096, 32, 32, 32768, 10000),
            ["qwen2_moe"] = Model(2048, 16, 24, 32768, 10000),
            ["qwen3"] = With(Model(4096, 32, 32, 32768, 10000), "head_dim", 128),
            ["qwen3_moe"] = Model(2048, 32, 24, 32768, 10000),
            ["gemma"] = With(Model(3072, 16, 28, 8192, 10000), "head_dim", 256),
            ["gemma2"] = With(Model(2304, 8, 26, 8192, 10000), "head_dim", 256),
            ["gemma3"] = gemma3,
            ["gemma3_text"] = gemma3,
            ["gptj"] = new(StringComparer.Ordinal)
            {
                ["n_embd"] = 4096, ["n_head"] = 16, ["n_layer"] = 28, ["n_positions"] = 2048, ["rotary_dim"] = 64, ["rope_theta"] = 10000,
            },
            ["gpt_neox"] = With(With(Model(6144, 64, 44, 2048, 10000), "rotary_pct", 0.25), "rotary_emb_base", 10000),
            ["phi"] = With(Model(2048, 32, 24, 2048, 10000), "partial_rotary_factor", 0.5),
            ["phi3"] = With(Model(3072, 32, 32, 4096, 10000), "original_max_position_embeddings", 4096),
            ["stablelm"] = With(Model(2560, 32, 32, 4096, 10000), "partial_rotary_factor", 0.25),
            ["falcon"] = Model(4544, 71, 32, 2048, 10000),
            ["olmo"] = olmo,
            ["olmo2"] = olmo,
            ["starcoder2"] = Model(3072, 24, 30, 4096, 10000),
            ["deepseek_v3"] = With(Model(7168, 128, 61, 4096, 10000), "qk_rope_head_dim", 64),
            ["llama4"] = llama4,
            ["llama4_text"] = llama4,
            // ChatGLM (remote code): its base is 10000 × rope_ratio, read apart.
            ["chatglm"] = new(StringComparer.Ordinal) { ["hidden_size"] = 4096, ["num_attention_heads"] = 32, ["kv_channels"] = 128, ["num_layers"] = 28 },
        };
        return defaults;

        static Dictionary<string, double> With(Dictionary<string, double> model, string field, double value)
        {
            model[field] = value;
            return model;
        }
    }

    /// <summary>The model_type's class default of a field, or null.</summary>
    private static double? Default(string? modelType, string field) =>
        modelType is not null && ModelDefaults.TryGetValue(modelType, out Dictionary<string, double>? defaults)
            && defaults.TryGetValue(field, out double value) ? value : null;

    /// <summary>The first of <paramref name="names"/> (aliases of one field) the config gives, else the first the model_type defaults.</summary>
    private static int? Int(JsonElement root, string? modelType, params ReadOnlySpan<string> names)
    {
        foreach (string name in names)
        {
            if (OptionalInt(root, name) is int value)
            {
                return value;
            }
        }

        foreach (string name in names)
        {
            if (Default(modelType, name) is double value)
            {
                return (int)value;
            }
        }

        return null;
    }

    /// <summary>A positive count (max_position_embeddings and the like), the config's or the class default, or null.</summary>
    private static int? PositiveInt(JsonElement root, string? modelType, params ReadOnlySpan<string> names)
    {
        int? value = Int(root, modelType, names);
        if (value is <= 0)
        {
            string given = names[0];
            foreach (string name in names)
            {
                if (root.TryGetProperty(name, out _))
                {
                    given = name;
                    break;
                }
            }

            throw Error(given, $"is {value}; it must be positive");
        }

        return value;
    }

    /// <summary>Gemma 3's rope_local_base_freq: the config's, or Gemma3TextConfig's default where rope_parameters are not given per layer type.</summary>
    private static double? LocalBase(JsonElement root, string? modelType) =>
        OptionalNumber(root, "rope_local_base_freq") ?? (HasPerLayerParameters(root) ? null : Default(modelType, "rope_local_base_freq"));

    private static RopeModel Resolve(JsonElement root, string? modelType, int sequenceLength, LongRopeSelection longRope, string? layerType,
        JsonElement? perTypeParameters = null)
    {
        if (root.TryGetProperty("alibi", out JsonElement alibi) && alibi.ValueKind == JsonValueKind.True)
        {
            throw Error("alibi", "is true: the model adds ALiBi biases and applies no rotary embedding");
        }

        // Gemma 3: sliding-window layers rotate at rope_local_base_freq without the rope scaling of the global layers.
        int headDim = HeadDim(root, modelType);
        int? maxPositions = PositiveInt(root, modelType, "max_position_embeddings", "n_positions");
        if (LocalBase(root, modelType) is double localBase)
        {
            switch (layerType)
            {
                case "sliding_attention":
                    int localRotaryDim = RotaryDim(root, modelType, null, headDim);
                    RopeFrequencies local;
                    try
                    {
                        local = RopeFrequencies.Create(localRotaryDim, localBase);
                    }
                    catch (ArgumentException exception)
                    {
                        throw new ArgumentException($"config.json: rope_local_base_freq is out of range: {exception.Message.Replace(
                            $" (Parameter '{exception.ParamName}')", "", StringComparison.Ordinal)}", "json", exception);
                    }

                    (int? localQueryHeads, int? localKeyValueHeads) = Heads(root, modelType);
                    return new RopeModel(modelType ?? "", headDim, local)
                    {
                        QueryHeads = localQueryHeads, KeyValueHeads = localKeyValueHeads, MaxPositionEmbeddings = maxPositions,
                    };
                case "full_attention":
                    break;
                default:
                    throw Error("rope_local_base_freq",
                        "gives the sliding-window layers a schedule of their own; read every layer with ParseLayers, or pass layerType 'full_attention' or 'sliding_attention'");
            }
        }

        JsonElement? parameters = perTypeParameters ?? RopeParameters(root, layerType);
        int rotaryDim = RotaryDim(root, modelType, parameters, headDim);

        double @base = OptionalNumber(parameters, "rope_theta") is double nested
            ? Consistent("rope_theta", nested, OptionalNumber(root, "rope_theta"))
            : OptionalNumber(root, "rope_theta") ?? OptionalNumber(root, "rotary_emb_base") // GPT-NeoX's name for it
                ?? ChatGlmBase(root, modelType)
                ?? Default(modelType, "rope_theta") ?? Default(modelType, "rotary_emb_base")
                ?? throw Error("rope_theta", modelType is null
                        ? "is missing (neither at the top level nor in rope_parameters), and there is no model_type whose default would apply"
                        : $"is missing, and model_type {Quote(modelType)} has no default Rope.Simd knows");

        string type = Type(parameters);
        var allowed = new HashSet<string>(FieldsByType.TryGetValue(type, out string[]? fields)
            ? fields
            : throw Error("rope_type", $"{Quote(type)} is not supported (supported: {string.Join(", ", FieldsByType.Keys)})"), StringComparer.Ordinal)
            { "rope_type", "type", "rope_theta", "partial_rotary_factor", "llama_4_scaling_beta" };
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
        int OriginalLength()
        {
            int length = OptionalInt(parameters, "original_max_position_embeddings") is int nestedLength
                ? (int)Consistent("original_max_position_embeddings", nestedLength, OptionalInt(root, "original_max_position_embeddings"))
                : Int(root, modelType, "original_max_position_embeddings")
                    ?? throw Error("original_max_position_embeddings", $"is required by rope type '{type}'{(
                        parameters is JsonElement p && p.TryGetProperty("llama_4_scaling_beta", out _) ? " and by llama_4_scaling_beta" : "")}");
            return length > 0 ? length : throw Error("original_max_position_embeddings", $"is {length}; it must be positive");
        }

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

        MropeSections? sections = Sections(parameters, rotaryDim);
        RopeQueryScale? queryScale = OptionalNumber(parameters, "llama_4_scaling_beta") is double beta
            ? new RopeQueryScale(beta >= 0 ? beta : throw Error("llama_4_scaling_beta", $"is {beta.ToString(CultureInfo.InvariantCulture)}; it must not be negative"), OriginalLength())
            : null;
        (int? queryHeads, int? keyValueHeads) = Heads(root, modelType);
        return new RopeModel(modelType ?? "", headDim, frequencies)
        {
            QueryHeads = queryHeads, KeyValueHeads = keyValueHeads, ScalingType = type, MaxPositionEmbeddings = maxPositions,
            SoftmaxScale = softmaxScale, Sections = sections, QueryScale = queryScale,
        };

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
    /// <exception cref="ArgumentException">As <see cref="Parse"/>.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static RopeModel Load(string path, int sequenceLength = 0, LongRopeSelection longRope = LongRopeSelection.BySequenceLength,
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

        // Phi-3.5-MoE: cos and sin scaled by short_mscale with the short factors and by long_mscale with the long ones.
        double? shortScale = OptionalNumber(parameters, "short_mscale"), longScale = OptionalNumber(parameters, "long_mscale");
        double? attention = OptionalNumber(parameters, "attention_factor");
        if (shortScale is not null || longScale is not null)
        {
            if (shortScale is null || longScale is null || attention is not null)
            {
                throw Error(shortScale is null ? "short_mscale" : longScale is null ? "long_mscale" : "attention_factor",
                    "must come with the other of short_mscale and long_mscale, and without attention_factor");
            }

            bool useLong = selection == LongRopeSelection.AlwaysLong || sequenceLength > originalLength;
            attention = useLong ? longScale : shortScale;
        }

        return RopeScaling.LongRope(rotaryDim, @base, shortFactor, longFactor, originalLength, maxPositions, selection, sequenceLength, attention);
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
            if (layerType is null || !chosen.TryGetProperty(layerType, out JsonElement perLayer))
            {
                string[] types = [.. chosen.EnumerateObject().Take(9).Select(p => p.Name)];
                throw Error(name, $"is given per layer type ({string.Join(", ", types.Take(8).Select(Quote))}{(types.Length > 8 ? ", ..." : "")}); pass the layer type to read");
            }

            return PerTypeObject(perLayer, name, layerType);
        }

        return chosen;
    }

    /// <summary>rope_parameters (or rope_scaling) given per layer type, indexed by layer type once; null where they are not per layer type.</summary>
    private static Dictionary<string, JsonElement>? PerTypeParameters(JsonElement root)
    {
        // RopeParameters checks the rest (both given, not an object) when a schedule is resolved.
        bool hasParameters = root.TryGetProperty("rope_parameters", out JsonElement parameters) && parameters.ValueKind == JsonValueKind.Object;
        bool hasScaling = root.TryGetProperty("rope_scaling", out JsonElement scaling) && scaling.ValueKind == JsonValueKind.Object;
        if (hasParameters == hasScaling)
        {
            return null;
        }

        JsonElement chosen = hasParameters ? parameters : scaling;
        if (!chosen.EnumerateObject().Any(p => p.Value.ValueKind == JsonValueKind.Object))
        {
            return null;
        }

        var index = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (JsonProperty property in chosen.EnumerateObject())
        {
            index.Add(property.Name, property.Value);   // keys are unique: RejectDuplicateKeys ran
        }

        return index;
    }

    /// <summary>The rope parameters of one layer type from the index; an object, or an error naming the field.</summary>
    private static JsonElement PerTypeEntry(Dictionary<string, JsonElement> index, string name, string layerType, bool listed) =>
        index.TryGetValue(layerType, out JsonElement entry)
            ? PerTypeObject(entry, name, layerType)
            : throw Error(name, $"is given per layer type but has no entry for {Quote(layerType)}{(listed ? ", which layer_types lists" : "")}");

    private static JsonElement PerTypeObject(JsonElement entry, string name, string layerType) =>
        entry.ValueKind == JsonValueKind.Object
            ? entry
            : throw Error($"{name}[{Quote(layerType)}]", $"must be an object (the rope parameters of layer type {Quote(layerType)}), not {Describe(entry)}");

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

    private static int HeadDim(JsonElement root, string? modelType)
    {
        // DeepSeek's multi-head latent attention rotates a separate slice of qk_rope_head_dim per head.
        if (Int(root, modelType, "qk_rope_head_dim") is int ropeSlice)
        {
            return ropeSlice > 0 && ropeSlice % 2 == 0 ? ropeSlice : throw Error("qk_rope_head_dim", $"is {ropeSlice}; it must be positive and even");
        }

        if (Int(root, modelType, "head_dim") is int headDim)
        {
            return headDim > 0 && headDim % 2 == 0 ? headDim : throw Error("head_dim", $"is {headDim}; it must be positive and even");
        }

        // ChatGLM: kv_channels per head.
        if (Int(root, modelType, "kv_channels") is int channels)
        {
            return channels > 0 && channels % 4 == 0 ? channels : throw Error("kv_channels", $"is {channels}; it must be positive and a multiple of 4");
        }

        // GPT-J names them n_embd and n_head.
        int hidden = Int(root, modelType, "hidden_size", "n_embd") ?? throw Error("head_dim", "is missing, and so is hidden_size to derive it");
        int heads = Int(root, modelType, "num_attention_heads", "n_head")
            ?? throw Error("head_dim", "is missing, and so is num_attention_heads to derive it");
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

    /// <summary>
    /// The query heads (num_attention_heads or GPT-J's n_head, the config's or its class default) and the key/value heads
    /// (num_key_value_heads where the config gives it; transformers' classes differ in what they default it to), each
    /// null where unknown and positive where given.
    /// </summary>
    private static (int? Query, int? KeyValue) Heads(JsonElement root, string? modelType)
    {
        int? query = Int(root, modelType, "num_attention_heads", "n_head"), keyValue = OptionalInt(root, "num_key_value_heads");
        if (query is <= 0)
        {
            throw Error(root.TryGetProperty("num_attention_heads", out _) || !root.TryGetProperty("n_head", out _) ? "num_attention_heads" : "n_head",
                $"is {query}; it must be positive");
        }

        return keyValue is <= 0 ? throw Error("num_key_value_heads", $"is {keyValue}; it must be positive") : (query, keyValue);
    }

    private static int RotaryDim(JsonElement root, string? modelType, JsonElement? parameters, int headDim)
    {
        double? factor = OptionalNumber(parameters, "partial_rotary_factor") is double nested
            ? Consistent("partial_rotary_factor", nested, OptionalNumber(root, "partial_rotary_factor"))
            : OptionalNumber(root, "partial_rotary_factor") ?? OptionalNumber(root, "rotary_pct") ?? OptionalNumber(root, "rope_pct")
                ?? (root.TryGetProperty("kv_channels", out _) ? 0.5 : null); // ChatGLM rotates half of each head
        int? absolute = OptionalInt(root, "rotary_dim");
        if (factor is null && absolute is null)
        {
            // The config gives none of them: the model_type's class default, if it has one.
            factor = Default(modelType, "partial_rotary_factor") ?? Default(modelType, "rotary_pct") ?? (Default(modelType, "kv_channels") is not null ? 0.5 : null);
            absolute = Default(modelType, "rotary_dim") is double defaultDim ? (int)defaultDim : null;
        }

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

    /// <summary>GLM-4's base: 10000 times rope_ratio (1 where absent); null for other models.</summary>
    private static double? ChatGlmBase(JsonElement root, string? modelType) =>
        modelType == "chatglm" ? 10000 * (OptionalNumber(root, "rope_ratio") ?? 1) : null;

    private static bool HasPerLayerParameters(JsonElement root) =>
        root.TryGetProperty("rope_parameters", out JsonElement parameters) && parameters.ValueKind == JsonValueKind.Object
        && parameters.EnumerateObject().Any(p => p.Value.ValueKind == JsonValueKind.Object);

    /// <summary>Each layer's type: layer_types, Gemma 3's sliding_window_pattern, Llama 4's no_rope_layers, or one type for all.</summary>
    private static string[] LayerTypes(JsonElement root, string? modelType)
    {
        int layers = Int(root, modelType, "num_hidden_layers", "n_layer", "num_layers")
            ?? throw Error("num_hidden_layers", "is missing; the layers cannot be listed without it");
        if (layers is <= 0 or > MaxLayers)
        {
            // Checked before the list of types is made: a config cannot make the reader allocate what it merely claims.
            throw Error("num_hidden_layers", $"is {layers}; it must be positive and at most {MaxLayers}");
        }

        string[] types;
        if (root.TryGetProperty("layer_types", out JsonElement listed) && listed.ValueKind != JsonValueKind.Null)
        {
            types = listed.ValueKind == JsonValueKind.Array
                ? [.. listed.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error("layer_types", "must hold strings only"))]
                : throw Error("layer_types", "must be an array of strings");
            if (types.Length != layers)
            {
                throw Error("layer_types", $"lists {types.Length} layers but num_hidden_layers is {layers}");
            }
        }
        else if (LocalBase(root, modelType) is not null)
        {
            int pattern = Int(root, modelType, "sliding_window_pattern") ?? 6;
            types = pattern > 0
                ? [.. Enumerable.Range(0, layers).Select(layer => (layer + 1) % pattern == 0 ? "full_attention" : "sliding_attention")]
                : throw Error("sliding_window_pattern", $"is {pattern}; it must be positive");
        }
        else if (HasPerLayerParameters(root))
        {
            throw Error("layer_types", "is missing, but rope_parameters are given per layer type");
        }
        else
        {
            types = [.. Enumerable.Repeat("full_attention", layers)];
        }

        bool listsNoRope = root.TryGetProperty("no_rope_layers", out JsonElement noRope) && noRope.ValueKind == JsonValueKind.Array
            && noRope.GetArrayLength() > 0;
        if (!listsNoRope && modelType is "llama4" or "llama4_text")
        {
            // Llama4TextConfig's default: every no_rope_layer_interval-th layer (4) applies no rotary embedding.
            int interval = Int(root, modelType, "no_rope_layer_interval") ?? 4;
            for (int layer = 0; layer < layers; layer++)
            {
                types[layer] = interval > 0 && (layer + 1) % interval == 0 ? RopeLayerSchedule.NoRope : types[layer];
            }
        }
        else if (listsNoRope)
        {
            double[] flags = Numbers(root, "no_rope_layers");
            if (flags.Length != layers || flags.Any(flag => flag is not (0 or 1)))
            {
                throw Error("no_rope_layers", $"must hold one 0 or 1 per layer ({layers})");
            }

            // Llama 4: 1 where the layer applies RoPE, 0 where it applies none.
            for (int layer = 0; layer < layers; layer++)
            {
                types[layer] = flags[layer] == 1 ? types[layer] : RopeLayerSchedule.NoRope;
            }
        }

        return types;
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
