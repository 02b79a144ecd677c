using System.Runtime.InteropServices;

namespace Rope.Simd.Bench.Peers;

internal sealed unsafe partial class Ggml
{
    public const int TypeBF16 = 30;

    /// <summary>
    /// The step from the QKV projection to attention's inputs as llama.cpp's graphs compose it: queries and keys
    /// (optionally <c>ggml_rms_norm</c> → <c>ggml_mul</c> by their weights, as for Qwen3) through <c>ggml_rope_ext</c>,
    /// then <c>ggml_cpy</c> of the rotated keys and of the values into views of a [capacity][kvHeads][headDim] cache at
    /// the tokens' positions, one graph on the CPU backend. Inputs are three float32 tensors, or views of one packed
    /// [tokens][(heads + 2·kvHeads)·headDim] tensor, as llama.cpp takes them from a fused projection.
    /// </summary>
    public sealed class PreAttention : IDisposable
    {
        private readonly nint context, backend, graph, input, queries, keyCache;
        private readonly int inputElements, queryElements, cacheOffset, keyElements;

        private PreAttention(int tokens, int start, int heads, int kvHeads, int headDim, RopeLayout layout, double @base, bool packed, int cacheType,
            int capacity, ReadOnlySpan<float> queryWeights, ReadOnlySpan<float> keyWeights, float epsilon)
        {
            queryElements = tokens * heads * headDim;
            keyElements = tokens * kvHeads * headDim;
            inputElements = queryElements + 2 * keyElements;
            cacheOffset = start * kvHeads * headDim;
            int cacheElements = capacity * kvHeads * headDim;
            var parameters = new InitParams { MemorySize = (nuint)(16L * inputElements + 4L * cacheElements + 4 * headDim * 4 + tokens * 4 + (1 << 20)) };
            context = ggml_init(parameters);
            nint q, k, v;
            if (packed)
            {
                // One [tokens][row] tensor; each part a view with the row as its stride.
                input = ggml_new_tensor_1d(context, TypeF32, inputElements);
                nuint row = (nuint)((heads + 2 * kvHeads) * headDim * 4), head = (nuint)(headDim * 4);
                q = ggml_view_3d(context, input, headDim, heads, tokens, head, row, 0);
                k = ggml_view_3d(context, input, headDim, kvHeads, tokens, head, row, (nuint)(heads * headDim * 4));
                v = ggml_view_3d(context, input, headDim, kvHeads, tokens, head, row, (nuint)((heads + kvHeads) * headDim * 4));
            }
            else
            {
                // Three tensors one after another in one allocation: queries, keys, values.
                input = ggml_new_tensor_1d(context, TypeF32, inputElements);
                q = ggml_view_3d(context, input, headDim, heads, tokens, (nuint)(headDim * 4), (nuint)(heads * headDim * 4), 0);
                k = ggml_view_3d(context, input, headDim, kvHeads, tokens, (nuint)(headDim * 4), (nuint)(kvHeads * headDim * 4), (nuint)(queryElements * 4));
                v = ggml_view_3d(context, input, headDim, kvHeads, tokens, (nuint)(headDim * 4), (nuint)(kvHeads * headDim * 4),
                    (nuint)((queryElements + keyElements) * 4));
            }

            nint positions = ggml_new_tensor_1d(context, TypeI32, tokens);
            var positionData = new Span<int>((void*)ggml_get_data(positions), tokens);
            for (int i = 0; i < tokens; i++)
            {
                positionData[i] = start + i;
            }

            if (!queryWeights.IsEmpty)
            {
                q = Normalized(q, queryWeights, epsilon, headDim);
                k = Normalized(k, keyWeights, epsilon, headDim);
            }

            int mode = layout == RopeLayout.Interleaved ? 0 : 2;
            queries = ggml_rope_ext(context, q, positions, 0, headDim, mode, 0, (float)@base, 1, 0, 1, 0, 0);
            nint keys = ggml_rope_ext(context, k, positions, 0, headDim, mode, 0, (float)@base, 1, 0, 1, 0, 0);
            keyCache = ggml_new_tensor_1d(context, cacheType, cacheElements);
            nint valueCache = ggml_new_tensor_1d(context, cacheType, cacheElements);
            int cacheSize = cacheType == TypeF32 ? 4 : 2;
            nint keySlots = ggml_view_1d(context, keyCache, keyElements, (nuint)(cacheOffset * cacheSize));
            nint valueSlots = ggml_view_1d(context, valueCache, keyElements, (nuint)(cacheOffset * cacheSize));
            graph = ggml_new_graph(context);
            ggml_build_forward_expand(graph, queries);
            ggml_build_forward_expand(graph, ggml_cpy(context, keys, ggml_reshape_3d(context, keySlots, headDim, kvHeads, tokens)));
            ggml_build_forward_expand(graph, ggml_cpy(context, v, ggml_reshape_3d(context, valueSlots, headDim, kvHeads, tokens)));
            backend = ggml_backend_cpu_init();
            ggml_backend_cpu_set_n_threads(backend, 1);
        }

        /// <summary>The graph's input: the three tensors one after another, or the packed rows.</summary>
        public Span<float> Input => new((void*)ggml_get_data(input), inputElements);

        /// <summary>The rotated queries, [tokens][heads][headDim].</summary>
        public Span<float> Queries => new((void*)ggml_get_data(queries), queryElements);

        /// <summary>The key cache's elements the call writes (float16 or bfloat16 bits).</summary>
        public Span<ushort> KeySlots => new((ushort*)ggml_get_data(keyCache) + cacheOffset, keyElements);

        public static PreAttention? TryCreate(int tokens, int start, int heads, int kvHeads, int headDim, RopeLayout layout, double @base, bool packed,
            int cacheType, int capacity, ReadOnlySpan<float> queryWeights = default, ReadOnlySpan<float> keyWeights = default, float epsilon = 0) =>
            LoadError is null
                ? new PreAttention(tokens, start, heads, kvHeads, headDim, layout, @base, packed, cacheType, capacity, queryWeights, keyWeights, epsilon)
                : null;

        public void Run() => Compute(backend, graph);

        public void Dispose()
        {
            ggml_backend_free(backend);
            ggml_free(context);
        }

        private nint Normalized(nint values, ReadOnlySpan<float> normWeights, float epsilon, int headDim)
        {
            nint weights = ggml_new_tensor_1d(context, TypeF32, headDim);
            normWeights.CopyTo(new Span<float>((void*)ggml_get_data(weights), headDim));
            return ggml_mul(context, ggml_rms_norm(context, values, epsilon), weights);
        }
    }

    [DllImport(Base)]
    private static extern nint ggml_view_1d(nint context, nint a, long ne0, nuint offset);

    [DllImport(Base)]
    private static extern nint ggml_view_3d(nint context, nint a, long ne0, long ne1, long ne2, nuint nb1, nuint nb2, nuint offset);

    [DllImport(Base)]
    private static extern nint ggml_reshape_3d(nint context, nint a, long ne0, long ne1, long ne2);

    [DllImport(Base)]
    private static extern nint ggml_cpy(nint context, nint a, nint b);
}
