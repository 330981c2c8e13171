using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;

namespace Exch.Dsr.Benchmarks;

/// <summary>
/// What one random cache line costs on this machine, without the engine: the floor under the known-client rows at a
/// million clients. 128 MiB of 64-byte lines (the connection table's size at its default capacity) and a 64 MiB ring
/// of 64-byte frames read in order, each naming a random line, as the benchmark ring does.
/// <list type="bullet">
/// <item>dependent: each line's address comes from the line before, so nothing overlaps: the memory latency.</item>
/// <item>ring + line, one at a time: read a frame, read its line, write 12 bytes back into the frame; the next
/// frame's line address depends on this one's content (as one frame's work follows the last in the engine).</item>
/// <item>ring + line, batches of 32 + prefetch: the same, after prefetching the batch's lines, as the forwarding
/// thread does.</item>
/// </list>
/// One operation is one line or one frame.
/// </summary>
[MemoryDiagnoser]
public unsafe class MemoryFloorBenchmarks
{
    private const int Lines = 2 * 1024 * 1024;
    private const int Frames = 1024 * 1024;
    private const int LineSize = 64;
    private const int Batch = 32;

    private byte* _table;
    private byte* _ring;
    private int _chain;

    [GlobalSetup]
    public void Setup()
    {
        _table = (byte*)NativeMemory.AlignedAlloc((nuint)Lines * LineSize, LineSize);
        _ring = (byte*)NativeMemory.AlignedAlloc((nuint)Frames * LineSize, LineSize);
        NativeMemory.Clear(_table, (nuint)Lines * LineSize);
        NativeMemory.Clear(_ring, (nuint)Frames * LineSize);

        // One random cycle through every line for the dependent walk, and a random line per frame.
        var random = new Random(1124);
        var order = Enumerable.Range(0, Lines).ToArray();
        random.Shuffle(order);
        for (var i = 0; i < Lines; i++)
        {
            *(int*)(_table + ((long)order[i] * LineSize)) = order[(i + 1) % Lines];
        }

        for (var i = 0; i < Frames; i++)
        {
            *(int*)(_ring + ((long)i * LineSize) + 30) = random.Next(Lines);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_table);
        NativeMemory.AlignedFree(_ring);
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "random line, dependent (memory latency)")]
    public int Dependent()
    {
        var line = _chain;
        for (var i = 0; i < Frames; i++)
        {
            line = *(int*)(_table + ((long)line * LineSize));
        }

        _chain = line;
        return line;
    }

    [Benchmark(OperationsPerInvoke = Frames, Description = "ring + random line, one at a time")]
    public long RingOneAtATime() => Ring(prefetch: false);

    [Benchmark(OperationsPerInvoke = Frames, Description = "ring + random line, batches of 32 + prefetch")]
    public long RingBatched() => Ring(prefetch: true);

    private long Ring(bool prefetch)
    {
        long carry = 0;
        for (var start = 0; start < Frames; start += Batch)
        {
            if (prefetch)
            {
                for (var i = start; i < start + Batch; i++)
                {
                    Sse.Prefetch0(_table + ((long)*(int*)(_ring + ((long)i * LineSize) + 30) * LineSize));
                }
            }

            for (var i = start; i < start + Batch; i++)
            {
                var frame = _ring + ((long)i * LineSize);

                // carry is always 0 (the table's second word is never written), but the JIT and the CPU cannot know:
                // each frame's line address waits for the line before it.
                var line = (long*)(_table + ((*(int*)(frame + 30) + carry) * LineSize));
                carry = line[1];
                *(long*)frame = carry;
                *(int*)(frame + 8) = (int)carry;
            }
        }

        return carry;
    }
}
