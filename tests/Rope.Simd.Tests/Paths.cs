using Rope.Simd;

namespace Rope.Simd.Tests;

/// <summary>Theory data: every path this process can run, so each test runs once per path.</summary>
public static class Paths
{
    public static TheoryData<RopePath> Supported => new(RopeEngine.Supported.Select(engine => engine.Path));

    public static TheoryData<RopePath, RopeLayout> SupportedWithLayouts
    {
        get
        {
            var data = new TheoryData<RopePath, RopeLayout>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                data.Add(engine.Path, RopeLayout.Interleaved);
                data.Add(engine.Path, RopeLayout.HalfSplit);
            }

            return data;
        }
    }

    public static TheoryData<RopePath, PackedType> SupportedWithPackedTypes
    {
        get
        {
            var data = new TheoryData<RopePath, PackedType>();
            foreach (RopeEngine engine in RopeEngine.Supported)
            {
                foreach (PackedType type in PackedElements.All)
                {
                    data.Add(engine.Path, type);
                }
            }

            return data;
        }
    }

    public static TheoryData<PackedType, RopeLayout> PackedTypesWithLayouts
    {
        get
        {
            var data = new TheoryData<PackedType, RopeLayout>();
            foreach (PackedType type in PackedElements.All)
            {
                data.Add(type, RopeLayout.Interleaved);
                data.Add(type, RopeLayout.HalfSplit);
            }

            return data;
        }
    }
}
