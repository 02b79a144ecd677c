namespace Rope.Simd.Models;

/// <summary>
/// The rotary schedule of every layer of a model whose layers differ (Gemma 3's sliding-window layers with their own
/// base, transformers' rope_parameters per layer type, Llama 4's layers without RoPE).
/// </summary>
/// <param name="LayerTypes">Each layer's type, in layer order (e.g. full_attention, sliding_attention, or no_rope for a layer without rotary embedding).</param>
/// <param name="Schedules">The model (rotary configuration) of each layer type that rotates; layer types that share their rope parameters share one instance.</param>
public sealed record RopeLayerSchedule(IReadOnlyList<string> LayerTypes, IReadOnlyDictionary<string, RopeModel> Schedules)
{
    /// <summary>The layer type of a layer without rotary embedding (Llama 4's NoPE layers).</summary>
    public const string NoRope = "no_rope";

    /// <summary>The rotary configuration layer <paramref name="layer"/> rotates with, or null where it applies no rotary embedding.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer index is outside [0, LayerTypes.Count).</exception>
    public RopeModel? ForLayer(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, LayerTypes.Count);
        return Schedules.TryGetValue(LayerTypes[layer], out RopeModel? model) ? model : null;
    }
}
