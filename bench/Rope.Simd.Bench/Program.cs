using Rope.Simd.Bench;

QuickRun.Run(Console.Out);
