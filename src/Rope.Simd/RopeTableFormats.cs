using Rope.Simd.Validation;

namespace Rope.Simd;

/// <summary>
/// Converts interleaved table rows ([c0, s0, c1, s1, ...] per position, the <see cref="RopeTable"/> and Meta
/// freqs_cis layout) to and from the layouts other runtimes keep, so one table can feed them or be checked against
/// theirs. Every method copies values unchanged (no rounding); spans hold whole rows of rotaryDim floats.
/// </summary>
public static class RopeTableFormats
{
    /// <summary>
    /// To vLLM's and FlashInfer's cos_sin_cache rows: [c0, c1, ..., c(h−1), s0, s1, ..., s(h−1)] with h = rotaryDim/2.
    /// </summary>
    /// <param name="interleaved">Whole interleaved rows.</param>
    /// <param name="rotaryDim">Floats per row: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="destination">As long as the source; must not overlap it.</param>
    /// <exception cref="ArgumentException">The lengths are not whole rows, the destination is short, or the spans overlap.</exception>
    public static void ToCosThenSin(ReadOnlySpan<float> interleaved, int rotaryDim, Span<float> destination)
    {
        Guard.RotaryDim(rotaryDim);
        int rows = Rows(interleaved.Length, rotaryDim, nameof(interleaved));
        Destination(interleaved, destination, interleaved.Length, nameof(destination));
        int half = rotaryDim / 2;
        for (int row = 0; row < rows; row++)
        {
            ReadOnlySpan<float> source = interleaved.Slice(row * rotaryDim, rotaryDim);
            Span<float> target = destination.Slice(row * rotaryDim, rotaryDim);
            for (int i = 0; i < half; i++)
            {
                target[i] = source[2 * i];
                target[half + i] = source[2 * i + 1];
            }
        }
    }

    /// <summary>From cos_sin_cache rows ([all cos, all sin] per position) back to interleaved rows.</summary>
    /// <param name="cosThenSin">Whole rows of rotaryDim floats, cos half first.</param>
    /// <param name="rotaryDim">Floats per row: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="destination">As long as the source; must not overlap it.</param>
    /// <exception cref="ArgumentException">The lengths are not whole rows, the destination is short, or the spans overlap.</exception>
    public static void FromCosThenSin(ReadOnlySpan<float> cosThenSin, int rotaryDim, Span<float> destination)
    {
        Guard.RotaryDim(rotaryDim);
        int rows = Rows(cosThenSin.Length, rotaryDim, nameof(cosThenSin));
        Destination(cosThenSin, destination, cosThenSin.Length, nameof(destination));
        int half = rotaryDim / 2;
        for (int row = 0; row < rows; row++)
        {
            ReadOnlySpan<float> source = cosThenSin.Slice(row * rotaryDim, rotaryDim);
            Span<float> target = destination.Slice(row * rotaryDim, rotaryDim);
            for (int i = 0; i < half; i++)
            {
                target[2 * i] = source[i];
                target[2 * i + 1] = source[half + i];
            }
        }
    }

    /// <summary>
    /// To separate cos and sin caches of rotaryDim/2 floats per position: ONNX RotaryEmbedding's cos_cache and
    /// sin_cache, or (with <paramref name="duplicated"/>) Hugging Face's full-width cos and sin, where each row is
    /// its half repeated ([c0 ... c(h−1), c0 ... c(h−1)], from emb = cat(freqs, freqs)).
    /// </summary>
    /// <param name="interleaved">Whole interleaved rows.</param>
    /// <param name="rotaryDim">Floats per row: positive, even and at most <see cref="RopeFrequencies.MaxRotaryDim"/>.</param>
    /// <param name="cos">rows × rotaryDim/2 floats (rows × rotaryDim when duplicated).</param>
    /// <param name="sin">As long as <paramref name="cos"/>.</param>
    /// <param name="duplicated">Write Hugging Face's duplicated halves instead of ONNX's half-width caches.</param>
    /// <exception cref="ArgumentException">The lengths are not whole rows, a destination is short, or spans overlap.</exception>
    public static void ToCosAndSin(ReadOnlySpan<float> interleaved, int rotaryDim, Span<float> cos, Span<float> sin, bool duplicated = false)
    {
        Guard.RotaryDim(rotaryDim);
        int rows = Rows(interleaved.Length, rotaryDim, nameof(interleaved));
        int width = duplicated ? rotaryDim : rotaryDim / 2;
        Destination(interleaved, cos, rows * width, nameof(cos));
        Destination(interleaved, sin, rows * width, nameof(sin));
        if (SharedMemory.Overlap<float, float>(cos, sin))
        {
            Guard.ThrowInvalid("cos and sin overlap; give each its own memory.", nameof(sin));
        }

        int half = rotaryDim / 2;
        for (int row = 0; row < rows; row++)
        {
            ReadOnlySpan<float> source = interleaved.Slice(row * rotaryDim, rotaryDim);
            for (int i = 0; i < half; i++)
            {
                cos[row * width + i] = source[2 * i];
                sin[row * width + i] = source[2 * i + 1];
                if (duplicated)
                {
                    cos[row * width + half + i] = source[2 * i];
                    sin[row * width + half + i] = source[2 * i + 1];
                }
            }
        }
    }

    /// <summary>From separate cos and sin caches (half-width, or Hugging Face's duplicated full width) to interleaved rows.</summary>
    /// <param name="cos">Whole rows of rotaryDim/2 floats (rotaryDim when duplicated; only the first half of each row is read).</param>
    /// <param name="sin">As long as <paramref name="cos"/>.</param>
    /// <param name="rotaryDim">Floats per interleaved row: positive and even.</param>
    /// <param name="destination">rows × rotaryDim floats; must overlap neither cache.</param>
    /// <param name="duplicated">The caches are Hugging Face's duplicated full-width rows.</param>
    /// <exception cref="ArgumentException">The lengths disagree or are not whole rows, the destination is short, or spans overlap.</exception>
    public static void FromCosAndSin(ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, int rotaryDim, Span<float> destination, bool duplicated = false)
    {
        Guard.RotaryDim(rotaryDim);
        int width = duplicated ? rotaryDim : rotaryDim / 2;
        int rows = Rows(cos.Length, width, nameof(cos));
        if (sin.Length != cos.Length)
        {
            Guard.ThrowInvalid($"sin holds {sin.Length} floats but cos holds {cos.Length}; both need the same rows.", nameof(sin));
        }

        Destination(cos, destination, rows * rotaryDim, nameof(destination));
        Destination(sin, destination, rows * rotaryDim, nameof(destination));
        int half = rotaryDim / 2;
        for (int row = 0; row < rows; row++)
        {
            for (int i = 0; i < half; i++)
            {
                destination[row * rotaryDim + 2 * i] = cos[row * width + i];
                destination[row * rotaryDim + 2 * i + 1] = sin[row * width + i];
            }
        }
    }

    /// <summary>How many rows of <paramref name="rowLength"/> (positive) floats <paramref name="length"/> holds; throws unless whole.</summary>
    private static int Rows(int length, int rowLength, string name)
    {
        if (length % rowLength != 0)
        {
            Guard.ThrowInvalid($"{length} floats are not whole rows of {rowLength}.", name);
        }

        return length / rowLength;
    }

    private static void Destination(ReadOnlySpan<float> source, Span<float> destination, int required, string name)
    {
        Guard.Length(destination.Length, required, name);
        if (SharedMemory.Overlap<float, float>(source, destination))
        {
            Guard.ThrowInvalid("The destination overlaps the source; convert into separate memory.", name);
        }
    }
}
