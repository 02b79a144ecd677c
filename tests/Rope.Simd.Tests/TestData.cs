namespace Rope.Simd.Tests;

public static class TestData
{
    /// <summary>Activations of typical magnitude with a sprinkling of large, tiny and zero values.</summary>
    public static float[] Activations(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            double scale = random.Next(20) switch
            {
                0 => 1e4,
                1 => 1e-4,
                2 => 0,
                _ => 4,
            };
            values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        }

        return values;
    }
}
