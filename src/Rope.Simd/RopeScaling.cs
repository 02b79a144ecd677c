using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>Which LongRoPE factors a table uses.</summary>
public enum LongRopeSelection
{
    /// <summary>
    /// Hugging Face: the long factors once the sequence is longer than original_max_position_embeddings, the short
    /// ones before. Switching mid-sequence changes every angle: keys cached under the short factors must be rotated
    /// again (inverse with the old table, forward with the new), or the cache rebuilt.
    /// </summary>
    BySequenceLength,

    /// <summary>vLLM's choice when the context may exceed the original length: the long factors from the first token on.</summary>
    AlwaysLong,
}

/// <summary>
/// The frequency schedules of long-context models, each as its reference implementation defines it (Hugging Face
/// <c>rope_scaling</c> / <c>rope_parameters</c> types, Meta's Llama 3.1 code). Every method returns
/// <see cref="RopeFrequencies"/> (ω_i in double and the attention factor A that tables multiply cos and sin by);
/// build tables from them as usual.
/// </summary>
/// <remarks>
/// With ω_i = base^(-2i/d), d the rotary dim and i over the d/2 pairs:
/// linear ω_i / s; fixed NTK (base·s)^(-2i/d) / s^(2/d); dynamic NTK base' = base·(s·S/L − (s − 1))^(d/(d−2)) with
/// S = max(sequence, L); YaRN, Llama 3 and LongRoPE as documented on each method; per-pair factors ω_i / f_i.
/// </remarks>
public static class RopeScaling
{
    /// <summary>Position interpolation: ω_i / factor (positions effectively divided by the factor). A = 1.</summary>
    /// <param name="rotaryDim">Rotated elements per head: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="base">θ ("rope_theta"): finite and above 1.</param>
    /// <param name="factor">s: finite and positive (1 leaves the default schedule).</param>
    public static RopeFrequencies Linear(int rotaryDim, double @base, double factor)
    {
        Positive(factor);
        return Map(RopeFrequencies.Create(rotaryDim, @base), (_, w) => w / factor, nameof(factor), factor);
    }

    /// <summary>NTK-aware scaling with a fixed base (vLLM <c>ntk</c>): ω_i = (base·s)^(-2i/d) / s^(2/d). A = 1.</summary>
    /// <inheritdoc cref="Linear(int, double, double)" path="/param"/>
    public static RopeFrequencies FixedNtk(int rotaryDim, double @base, double factor)
    {
        Guard.RotaryDim(rotaryDim);
        RopeFrequencies.CheckBase(@base, nameof(@base));
        Positive(factor);
        if (!(double.IsFinite(@base * factor) && @base * factor > 1))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"base × factor is {@base * factor}; it must be finite and above 1.");
        }

        RopeFrequencies scaled = RopeFrequencies.Create(rotaryDim, @base * factor);
        double divisor = Math.Pow(factor, 2.0 / rotaryDim);
        return Map(scaled, (_, w) => w / divisor, nameof(factor), factor);
    }

    /// <summary>
    /// Dynamic NTK (Hugging Face): base' = base·(s·S/L − (s − 1))^(d/(d − 2)) with S = max(sequenceLength, L), then the
    /// default schedule with base'. A = 1. The base changes whenever the sequence grows past L: the caller, who owns
    /// the KV cache, rebuilds the table then and must re-rotate keys cached under the old base (Hugging Face itself
    /// does not, a known source of drift).
    /// </summary>
    /// <param name="rotaryDim">Rotated elements per head: positive, even and above 2.</param>
    /// <param name="base">θ: finite and above 1.</param>
    /// <param name="factor">s: finite and positive.</param>
    /// <param name="maxPositionEmbeddings">L, max_position_embeddings: positive.</param>
    /// <param name="sequenceLength">The current sequence length (cached plus new tokens): non-negative.</param>
    public static RopeFrequencies DynamicNtk(int rotaryDim, double @base, double factor, int maxPositionEmbeddings, int sequenceLength)
    {
        Guard.RotaryDim(rotaryDim);
        if (rotaryDim <= 2)
        {
            throw new ArgumentOutOfRangeException(nameof(rotaryDim), rotaryDim, "Dynamic NTK needs a rotary dim above 2 (its exponent is d/(d-2)).");
        }

        RopeFrequencies.CheckBase(@base, nameof(@base));
        Positive(factor);
        PositiveLength(maxPositionEmbeddings);
        Guard.NonNegative(sequenceLength);
        double length = Math.Max(sequenceLength, maxPositionEmbeddings);
        double scaledBase = @base * Math.Pow(factor * length / maxPositionEmbeddings - (factor - 1), (double)rotaryDim / (rotaryDim - 2));
        if (!(double.IsFinite(scaledBase) && scaledBase > 1))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor,
                $"At sequence length {sequenceLength} it makes the base {scaledBase}; the base must stay finite and above 1.");
        }

        return RopeFrequencies.Create(rotaryDim, scaledBase);
    }

    /// <summary>
    /// YaRN (Hugging Face, current): pairs whose wavelength fits in the original context many times keep ω_i, those
    /// with few rotations over it use ω_i / s, a linear ramp between corr(β_fast) and corr(β_slow), with
    /// corr(r) = d·ln(L0/(2πr)) / (2·ln base), floored and ceiled when <paramref name="truncate"/>.
    /// A = <paramref name="attentionFactor"/> when given (it replaces the computed factor; ggml's attn_factor multiplies
    /// instead), else mscale(s, mscale)/mscale(s, mscale_all_dim) when both are given, else mscale(s), with
    /// mscale(s, m) = 0.1·m·ln s + 1 for s &gt; 1, else 1.
    /// </summary>
    /// <param name="rotaryDim">Rotated elements per head: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="base">θ: finite and above 1.</param>
    /// <param name="factor">s: finite and positive.</param>
    /// <param name="originalMaxPositionEmbeddings">L0, original_max_position_embeddings: positive.</param>
    /// <param name="betaFast">β_fast (default 32): finite and positive.</param>
    /// <param name="betaSlow">β_slow (default 1): finite, positive and at most β_fast.</param>
    /// <param name="truncate">Round the ramp ends to whole pairs (Hugging Face default true; gpt-oss uses false).</param>
    /// <param name="attentionFactor">attention_factor, when the config gives one: in
    /// [<see cref="RopeFrequencies.MinAttentionFactor"/>, <see cref="RopeFrequencies.MaxAttentionFactor"/>].</param>
    /// <param name="mscale">mscale (DeepSeek), used with <paramref name="mscaleAllDim"/>: finite and non-negative.</param>
    /// <param name="mscaleAllDim">mscale_all_dim (DeepSeek), used with <paramref name="mscale"/>: finite and non-negative.</param>
    public static RopeFrequencies Yarn(int rotaryDim, double @base, double factor, int originalMaxPositionEmbeddings,
        double betaFast = 32, double betaSlow = 1, bool truncate = true, double? attentionFactor = null, double? mscale = null,
        double? mscaleAllDim = null)
    {
        RopeFrequencies plain = RopeFrequencies.Create(rotaryDim, @base);
        Positive(factor);
        PositiveLength(originalMaxPositionEmbeddings);
        Positive(betaFast);
        Positive(betaSlow);
        if (betaSlow > betaFast)
        {
            throw new ArgumentOutOfRangeException(nameof(betaSlow), betaSlow, $"β_slow must be at most β_fast ({betaFast}); the ramp runs from β_fast's pair to β_slow's.");
        }

        NonNegative(mscale);
        NonNegative(mscaleAllDim);
        double Correction(double rotations) =>
            rotaryDim * Math.Log(originalMaxPositionEmbeddings / (rotations * 2 * Math.PI)) / (2 * Math.Log(@base));
        double low = Correction(betaFast), high = Correction(betaSlow);
        if (truncate)
        {
            low = Math.Floor(low);
            high = Math.Ceiling(high);
        }

        low = Math.Max(low, 0);
        high = Math.Min(high, rotaryDim - 1);
        if (low == high)
        {
            high += 0.001;
        }

        bool fromMscales = attentionFactor is null && mscale is not null && mscaleAllDim is not null;
        double attention = attentionFactor
            ?? (fromMscales ? YarnMscale(factor, mscale!.Value) / YarnMscale(factor, mscaleAllDim!.Value) : YarnMscale(factor, 1));
        RopeFrequencies.CheckAttentionFactor(attention, attentionFactor is not null ? nameof(attentionFactor) : fromMscales ? nameof(mscale) : nameof(factor));
        return Map(plain, (i, w) =>
        {
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            double keep = 1 - ramp;
            return w / factor * (1 - keep) + w * keep;
        }, nameof(factor), factor, attention);
    }

    /// <summary>
    /// Llama 3 / 3.1 (Meta's apply_scaling): with wavelength λ_i = 2π/ω_i, λ &lt; L0/hf keeps ω_i, λ &gt; L0/lf uses ω_i / s, and
    /// between them (1 − t)·ω_i/s + t·ω_i with t = (L0/λ − lf)/(hf − lf). With hf = lf (Llama 4 Scout: both 1) the band
    /// between is empty and the schedule a step: ω_i / s where λ &gt; L0/lf, ω_i elsewhere. A = 1.
    /// </summary>
    /// <param name="rotaryDim">Rotated elements per head: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="base">θ: finite and above 1 (500000 for Llama 3).</param>
    /// <param name="factor">s (8 for Llama 3.1, 32 for Llama 3.2 1B/3B).</param>
    /// <param name="originalMaxPositionEmbeddings">L0 (8192).</param>
    /// <param name="lowFrequencyFactor">lf (1).</param>
    /// <param name="highFrequencyFactor">hf (4): finite and at least lf.</param>
    public static RopeFrequencies Llama3(int rotaryDim, double @base, double factor, int originalMaxPositionEmbeddings,
        double lowFrequencyFactor = 1, double highFrequencyFactor = 4)
    {
        RopeFrequencies plain = RopeFrequencies.Create(rotaryDim, @base);
        Positive(factor);
        PositiveLength(originalMaxPositionEmbeddings);
        Positive(lowFrequencyFactor);
        if (!(highFrequencyFactor >= lowFrequencyFactor) || !double.IsFinite(highFrequencyFactor))
        {
            throw new ArgumentOutOfRangeException(nameof(highFrequencyFactor), highFrequencyFactor, "Must be finite and at least the low frequency factor.");
        }

        double lowWavelength = originalMaxPositionEmbeddings / lowFrequencyFactor;
        double highWavelength = originalMaxPositionEmbeddings / highFrequencyFactor;
        return Map(plain, (_, w) =>
        {
            double wavelength = 2 * Math.PI / w;
            if (wavelength < highWavelength)
            {
                return w;
            }

            if (wavelength > lowWavelength)
            {
                return w / factor;
            }

            if (highFrequencyFactor == lowFrequencyFactor)
            {
                // The band [L0/hf, L0/lf] is the one wavelength L0/lf, where the smooth factor would be 0/0 (NaN in transformers'
                // _compute_llama3_parameters, an assertion in Meta's apply_scaling): ω kept, as at shorter wavelengths. No
                // published schedule reaches it (Llama 4 Scout's nearest wavelength is 0.3% above L0).
                return w;
            }

            double smooth = (originalMaxPositionEmbeddings / wavelength - lowFrequencyFactor) / (highFrequencyFactor - lowFrequencyFactor);
            return (1 - smooth) * w / factor + smooth * w;
        }, nameof(factor), factor);
    }

    /// <summary>
    /// LongRoPE (Phi-3/3.5/4): ω_i = 1/(e_i·base^(2i/d)) with e the short or the long factors (see
    /// <paramref name="selection"/>), and A = <paramref name="attentionFactor"/> if given, else 1 when the scale
    /// s = max_position_embeddings/L0 is at most 1, else √(1 + ln s / ln L0) (1.19024 for Phi-3-mini-128k).
    /// </summary>
    /// <param name="rotaryDim">Rotated elements per head: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="base">θ: finite and above 1.</param>
    /// <param name="shortFactor">short_factor: one per pair, finite and positive.</param>
    /// <param name="longFactor">long_factor: one per pair, finite and positive.</param>
    /// <param name="originalMaxPositionEmbeddings">L0: positive.</param>
    /// <param name="maxPositionEmbeddings">max_position_embeddings: positive.</param>
    /// <param name="selection">Which factors: by the current sequence length, or long from the start.</param>
    /// <param name="sequenceLength">The current sequence length, for <see cref="LongRopeSelection.BySequenceLength"/>: long factors once it exceeds L0.</param>
    /// <param name="attentionFactor">attention_factor, when the config gives one: in
    /// [<see cref="RopeFrequencies.MinAttentionFactor"/>, <see cref="RopeFrequencies.MaxAttentionFactor"/>].</param>
    public static RopeFrequencies LongRope(int rotaryDim, double @base, ReadOnlySpan<double> shortFactor, ReadOnlySpan<double> longFactor,
        int originalMaxPositionEmbeddings, int maxPositionEmbeddings, LongRopeSelection selection, int sequenceLength = 0,
        double? attentionFactor = null)
    {
        RopeFrequencies plain = RopeFrequencies.Create(rotaryDim, @base);
        PositiveLength(originalMaxPositionEmbeddings);
        PositiveLength(maxPositionEmbeddings);
        Guard.NonNegative(sequenceLength);
        if (selection is not (LongRopeSelection.BySequenceLength or LongRopeSelection.AlwaysLong))
        {
            throw new ArgumentOutOfRangeException(nameof(selection), selection, "Unknown selection.");
        }

        bool useLong = selection == LongRopeSelection.AlwaysLong || sequenceLength > originalMaxPositionEmbeddings;
        string name = useLong ? nameof(longFactor) : nameof(shortFactor);
        double[] factors = PerPair(useLong ? longFactor : shortFactor, rotaryDim, name);
        double scale = (double)maxPositionEmbeddings / originalMaxPositionEmbeddings;
        if (attentionFactor is double given)
        {
            RopeFrequencies.CheckAttentionFactor(given, nameof(attentionFactor));
        }

        double attention = attentionFactor ?? (scale <= 1 ? 1 : Math.Sqrt(1 + Math.Log(scale) / Math.Log(originalMaxPositionEmbeddings)));
        return Map(plain, (i, w) => w / factors[i], name, null, attention);
    }

    /// <summary>
    /// Proportional RoPE (Gemma 4): rotates the whole head with partner i + headDim/2, the first
    /// n = ⌊partialRotaryFactor·headDim/2⌋ pairs at ω_i = base^(-2i/headDim) / factor and the rest at frequency 0
    /// (unrotated). A = 1.
    /// </summary>
    /// <param name="headDim">Elements per head: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>; the rotary dim of the result.</param>
    /// <param name="base">θ: finite and above 1.</param>
    /// <param name="partialRotaryFactor">The share of pairs that rotate, in (0, 1].</param>
    /// <param name="factor">Divides every frequency: finite and positive (1 for none).</param>
    public static RopeFrequencies Proportional(int headDim, double @base, double partialRotaryFactor, double factor = 1)
    {
        Guard.RotaryDim(headDim);
        RopeFrequencies plain = RopeFrequencies.Create(headDim, @base);
        Positive(factor);
        if (!(partialRotaryFactor > 0 && partialRotaryFactor <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(partialRotaryFactor), partialRotaryFactor, "Must be in (0, 1].");
        }

        int rotating = (int)(partialRotaryFactor * headDim / 2);
        return Map(plain, (i, w) => i < rotating ? w / factor : 0, nameof(factor), factor);
    }

    /// <summary>
    /// The schedule of ggml's <c>ggml_rope_ext</c> (llama.cpp) from its own arguments, computed in double:
    /// ω_i^extrap = freq_base^(-2i/n_dims) / freq_factors_i (1 without factors), ω_i^interp = freq_scale·ω_i^extrap;
    /// with ext_factor 0, ω_i = ω_i^interp and A = attn_factor; otherwise, with ggml's YaRN correction range
    /// [low, high] (low = max(0, ⌊d(beta_fast)⌋), high = min(n_dims − 1, ⌈d(beta_slow)⌉),
    /// d(r) = n_dims·ln(n_ctx_orig / (2πr)) / (2 ln freq_base)) and the ramp
    /// γ_i = (1 − clamp((i − low) / max(0.001, high − low), 0, 1))·ext_factor,
    /// ω_i = ω_i^interp·(1 − γ_i) + ω_i^extrap·γ_i and A = attn_factor·(1 + 0.1·ln(1 / freq_scale)).
    /// Rotate with the pair layout of ggml's mode: 0 (normal) interleaved, 2 (NeoX) half-split, 8 (M-RoPE)
    /// half-split with <see cref="MropeSections.Contiguous"/> of its sections, 40 (interleaved M-RoPE) with
    /// <see cref="MropeSections.Interleaved"/>.
    /// </summary>
    /// <param name="dimensions">n_dims: the rotary dim (positive, even).</param>
    /// <param name="freqBase">freq_base.</param>
    /// <param name="freqScale">freq_scale, 1 / the context extension factor (positive).</param>
    /// <param name="extFactor">ext_factor, the share of YaRN's extrapolation mix (0 disables YaRN; finite, not negative).</param>
    /// <param name="attnFactor">attn_factor, which scales cos and sin.</param>
    /// <param name="betaFast">beta_fast (positive).</param>
    /// <param name="betaSlow">beta_slow (positive).</param>
    /// <param name="originalContext">n_ctx_orig (positive where ext_factor is not 0).</param>
    /// <param name="freqFactors">The freq_factors tensor's values, one per pair, or empty for none.</param>
    public static RopeFrequencies Ggml(int dimensions, double freqBase, double freqScale, double extFactor, double attnFactor, double betaFast,
        double betaSlow, int originalContext, ReadOnlySpan<double> freqFactors = default)
    {
        RopeFrequencies plain = RopeFrequencies.Create(dimensions, freqBase);
        Positive(freqScale);
        if (!(extFactor >= 0 && double.IsFinite(extFactor)))
        {
            throw new ArgumentOutOfRangeException(nameof(extFactor), extFactor, "Must be finite and not negative.");
        }

        double attention = attnFactor;
        double low = 0, high = 0;
        if (extFactor != 0)
        {
            Positive(betaFast);
            Positive(betaSlow);
            PositiveLength(originalContext);
            double Correction(double rotations) => dimensions * Math.Log(originalContext / (rotations * 2 * Math.PI)) / (2 * Math.Log(freqBase));
            low = Math.Max(0, Math.Floor(Correction(betaFast)));
            high = Math.Min(dimensions - 1, Math.Ceiling(Correction(betaSlow)));
            attention *= 1 + 0.1 * Math.Log(1 / freqScale);
        }

        RopeFrequencies.CheckAttentionFactor(attention, nameof(attnFactor));
        double[] factors = freqFactors.IsEmpty ? [.. Enumerable.Repeat(1.0, dimensions / 2)] : PerPair(freqFactors, dimensions, nameof(freqFactors));
        double[] frequencies = new double[dimensions / 2];
        for (int i = 0; i < frequencies.Length; i++)
        {
            double extrapolated = plain.InverseFrequencies[i] / factors[i], interpolated = freqScale * extrapolated;
            double mix = extFactor == 0 ? 0 : (1 - Math.Clamp((i - low) / Math.Max(0.001, high - low), 0, 1)) * extFactor;
            frequencies[i] = interpolated * (1 - mix) + extrapolated * mix;
        }

        return RopeFrequencies.FromInverseFrequencies(frequencies, attention);
    }

    /// <summary>
    /// The schedule of ggml's vision rope (<c>ggml_rope_multi</c> mode 24, Qwen2-VL's vision encoder in llama.cpp):
    /// n_dims = headDim / 2 pairs, pair i paired half-split across the whole head (i with i + headDim/2); with
    /// s = Σ sections, pair i lies in sector i mod s, whose section k starts at sector c_k, and its frequency restarts
    /// there: ω_i = freq_scale·freq_base^(-2(sector − c_k)/n_dims) / freq_factors_i, A = attn_factor (no YaRN). Rotate
    /// half-split with rotary dim headDim and <see cref="RopePositions.Multimodal"/>, pair streams from
    /// <see cref="MropeSections.Contiguous"/> of the sections the pairs reach (at most three).
    /// </summary>
    /// <param name="headDim">The head dim, 2·n_dims (positive, a multiple of 4).</param>
    /// <param name="freqBase">freq_base.</param>
    /// <param name="freqScale">freq_scale (positive).</param>
    /// <param name="attnFactor">attn_factor.</param>
    /// <param name="sections">ggml's four section sizes (not negative, not all 0).</param>
    /// <param name="freqFactors">The freq_factors tensor's values, one per pair, or empty for none.</param>
    public static RopeFrequencies GgmlVision(int headDim, double freqBase, double freqScale, double attnFactor, ReadOnlySpan<int> sections,
        ReadOnlySpan<double> freqFactors = default)
    {
        if (headDim <= 0 || headDim % 4 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "Must be positive and a multiple of 4 (twice an even n_dims).");
        }

        RopeFrequencies.CheckBase(freqBase, nameof(freqBase));
        Positive(freqScale);
        RopeFrequencies.CheckAttentionFactor(attnFactor, nameof(attnFactor));
        long total = 0;
        foreach (int section in sections)
        {
            total += section >= 0 ? section : throw new ArgumentOutOfRangeException(nameof(sections), section, "Section sizes must not be negative.");
        }

        if (sections.Length != 4 || total == 0)
        {
            throw new ArgumentException("Give ggml's four section sizes, not all 0.", nameof(sections));
        }

        int pairs = headDim / 2;
        double[] factors = freqFactors.IsEmpty ? [.. Enumerable.Repeat(1.0, pairs)] : PerPair(freqFactors, headDim, nameof(freqFactors));
        double[] frequencies = new double[pairs];
        for (int i = 0; i < pairs; i++)
        {
            long sector = i % total, start = 0;
            foreach (int section in sections)
            {
                if (sector < start + section)
                {
                    break;
                }

                start += section;
            }

            // A section restarts the exponent at its first sector.
            long j = sector - start;
            frequencies[i] = freqScale * Math.Pow(freqBase, -2.0 * j / pairs) / factors[i];
        }

        return RopeFrequencies.FromInverseFrequencies(frequencies, attnFactor);
    }

    /// <summary>Per-pair factors dividing each frequency (ggml's freq_factors): ω_i / f_i, attention factor kept.</summary>
    /// <param name="frequencies">The schedule to scale.</param>
    /// <param name="factors">f_i, one per pair: finite and positive, with every ω_i / f_i at most
    /// <see cref="RopeFrequencies.MaxInverseFrequency"/>. Copied once before it is checked.</param>
    public static RopeFrequencies WithFactors(RopeFrequencies frequencies, ReadOnlySpan<double> factors)
    {
        ArgumentNullException.ThrowIfNull(frequencies);
        double[] copy = PerPair(factors, frequencies.RotaryDim, nameof(factors));
        return Map(frequencies, (i, w) => w / copy[i], nameof(factors), null, frequencies.AttentionFactor);
    }

    /// <summary>
    /// The factor DeepSeek-V2/V3 multiply the attention softmax scale by: mscale(s, mscale_all_dim)², e.g. 1.5896 for
    /// V2 (0.707, s = 40) and 1.8739 for V3 (1.0, s = 40). Their tables get A = 1 (mscale equals mscale_all_dim), so
    /// without this factor the logits are off.
    /// </summary>
    /// <param name="factor">s: finite and positive.</param>
    /// <param name="mscaleAllDim">mscale_all_dim: finite and non-negative.</param>
    public static double DeepSeekSoftmaxScale(double factor, double mscaleAllDim)
    {
        Positive(factor);
        NonNegative(mscaleAllDim);
        double mscale = YarnMscale(factor, mscaleAllDim);
        return mscale * mscale;
    }

    private static double YarnMscale(double factor, double m) => factor <= 1 ? 1 : 0.1 * m * Math.Log(factor) + 1;

    /// <summary>
    /// Applies <paramref name="scale"/> to each ω_i; a result outside [0, <see cref="RopeFrequencies.MaxInverseFrequency"/>]
    /// is blamed on <paramref name="cause"/>, the argument that produced it (with its value when it is a number).
    /// </summary>
    private static RopeFrequencies Map(RopeFrequencies plain, Func<int, double, double> scale, string cause, double? causeValue,
        double attentionFactor = 1)
    {
        ReadOnlySpan<double> w = plain.InverseFrequencies;
        var scaled = new double[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            scaled[i] = scale(i, w[i]);
        }

        if (RopeFrequencies.FirstOutsideDomain(scaled) is int bad)
        {
            string message = $"It makes inverse frequency {bad} {scaled[bad]}, outside [0, {RopeFrequencies.MaxInverseFrequency}] radians per position.";
            throw causeValue is double value ? new ArgumentOutOfRangeException(cause, value, message) : new ArgumentException(message, cause);
        }

        return RopeFrequencies.FromInverseFrequencies(scaled, attentionFactor);
    }

    /// <summary>Copies per-pair factors once, then checks the copy: one per pair, each finite and positive.</summary>
    private static double[] PerPair(ReadOnlySpan<double> factors, int rotaryDim, string name)
    {
        if (factors.Length != rotaryDim / 2)
        {
            throw new ArgumentException($"{factors.Length} factors given; one per pair ({rotaryDim / 2}) is needed.", name);
        }

        double[] copy = factors.ToArray();
        for (int i = 0; i < copy.Length; i++)
        {
            if (!(double.IsFinite(copy[i]) && copy[i] > 0))
            {
                throw new ArgumentException($"Factor {i} is {copy[i]}; every one must be finite and positive.", name);
            }
        }

        return copy;
    }

    private static void Positive(double value, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (!double.IsFinite(value) || value <= 0)
        {
            throw new ArgumentOutOfRangeException(name, value, "Must be finite and positive.");
        }
    }

    private static void NonNegative(double? value, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value is double given && !(double.IsFinite(given) && given >= 0))
        {
            throw new ArgumentOutOfRangeException(name, given, "Must be finite and non-negative.");
        }
    }

    private static void PositiveLength(int value, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(name, value, "Must be positive.");
        }
    }
}
