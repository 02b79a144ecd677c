namespace Rope.Simd.Tests;

/// <summary>How a test's heads meet their norm's weights.</summary>
public enum Weighting
{
    Weight,
    OnePlusWeight,
    Unweighted,
    None,
}

/// <summary>The QK norm as <see cref="RopeHeadNorm"/> specifies it, written out in scalar float32: the oracle of the fused calls' bits.</summary>
internal static class SpecifiedNorm
{
    /// <summary>The norm of <paramref name="weighting"/> with <paramref name="weights"/> (one per element of a head).</summary>
    public static RopeHeadNorm For(Weighting weighting, float[] weights, float epsilon) => weighting switch
    {
        Weighting.Weight => RopeHeadNorm.Rms(weights, epsilon),
        Weighting.OnePlusWeight => RopeHeadNorm.RmsOnePlusWeight(weights, epsilon),
        Weighting.Unweighted => RopeHeadNorm.RmsUnweighted(epsilon),
        _ => RopeHeadNorm.None,
    };

    /// <summary>
    /// Heads of <paramref name="headDim"/> packed one after another, each normalized: squares into 16 partials (element
    /// i into partial i mod 16), folded by halves, scale 1 / sqrt(sum / n + ε), then (x·scale)·w.
    /// </summary>
    public static float[] Normalized(float[] values, int headDim, Weighting weighting, float[] weights, float epsilon)
    {
        float[] result = [.. values];
        if (weighting == Weighting.None)
        {
            return result;
        }

        for (int start = 0; start < values.Length; start += headDim)
        {
            var partials = new float[16];
            for (int i = 0; i < headDim; i++)
            {
                float square = values[start + i] * values[start + i];
                partials[i % 16] += square;
            }

            for (int width = 8; width > 0; width /= 2)
            {
                for (int j = 0; j < width; j++)
                {
                    partials[j] += partials[j + width];
                }
            }

            float mean = partials[0] / headDim;
            float scale = 1f / MathF.Sqrt(mean + epsilon);
            for (int i = 0; i < headDim; i++)
            {
                float scaled = values[start + i] * scale;
                result[start + i] = weighting switch
                {
                    Weighting.Weight => scaled * weights[i],
                    Weighting.OnePlusWeight => scaled * (1f + weights[i]),
                    _ => scaled,
                };
            }
        }

        return result;
    }
}
