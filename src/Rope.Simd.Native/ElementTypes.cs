namespace Rope.Simd.Native;

/// <summary>Work to run with the element type a C caller named.</summary>
internal interface IElementWork
{
    void Run<T>()
        where T : unmanaged;
}

/// <summary>
/// The one place a <c>rope_simd_dtype</c> becomes a .NET element type: each C entry checks the value first (naming its
/// argument), then runs its work here; a value that is not a dtype is refused, never taken for float16.
/// </summary>
internal static class ElementTypes
{
    /// <summary>Throws unless <paramref name="dtype"/> is a <c>rope_simd_dtype</c>; <paramref name="name"/> is the C argument.</summary>
    public static void Check(int dtype, string name)
    {
        if (dtype is < (int)NativeElementType.Float32 or > (int)NativeElementType.Float16)
        {
            throw new NativeException(NativeStatus.InvalidArgument, $"{name} {dtype} is not a rope_simd_dtype (0 float32, 1 bfloat16, 2 float16).");
        }
    }

    /// <summary>Runs <paramref name="work"/> with the element type <paramref name="dtype"/> names.</summary>
    public static void Run<TWork>(int dtype, string name, scoped ref TWork work)
        where TWork : IElementWork, allows ref struct
    {
        switch ((NativeElementType)dtype)
        {
            case NativeElementType.Float32:
                work.Run<float>();
                break;
            case NativeElementType.BFloat16:
                work.Run<BFloat16>();
                break;
            case NativeElementType.Float16:
                work.Run<Half>();
                break;
            default:
                Check(dtype, name);
                break;
        }
    }
}
