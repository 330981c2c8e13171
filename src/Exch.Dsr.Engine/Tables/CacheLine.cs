using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Exch.Dsr.Engine.Tables;

/// <summary>
/// The engine's only pointer code (FlowFrame's reads at offsets its length tests prove are its only other unchecked
/// memory access). A software prefetch lets the forwarding thread ask for the table lines of the
/// next frames of a batch and go on working while they load, so a million-client table costs overlapped misses
/// instead of misses the thread waits for one after another; the instruction takes an address, hence the pointer.
/// </summary>
internal static class CacheLine
{
    public const int Size = 64;

    /// <summary>
    /// Starts loading every cache line <paramref name="item"/> spans. Taking the address of an unpinned element is
    /// harmless here: a prefetch never faults and never writes, so if the GC had moved it the loss is one useless
    /// prefetch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch<T>(ref T item)
    {
        if (Sse.IsSupported)
        {
            var address = (byte*)Unsafe.AsPointer(ref item);
            Sse.Prefetch0(address);
            if ((((nint)address & (Size - 1)) + Unsafe.SizeOf<T>()) > Size)
            {
                Sse.Prefetch0(address + Unsafe.SizeOf<T>() - 1);
            }
        }
    }

    /// <summary>
    /// Starts loading the one line <paramref name="item"/> starts in: for items that never straddle two lines (the
    /// 32- and 64-byte connection entries of a <see cref="LineAlignedArray{T}"/>), without the test for a second.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void PrefetchLine<T>(ref T item)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref item));
        }
    }

    /// <summary>Bytes from the start of <paramref name="pinned"/>'s data to its first 64-byte boundary.</summary>
    public static unsafe int OffsetToLineStart(byte[] pinned)
    {
        var address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        return (int)((Size - (address & (Size - 1))) & (Size - 1));
    }
}

/// <summary>
/// A fixed-length array of <typeparamref name="T"/> whose first element starts on a cache-line boundary, so that
/// with a 64-byte <typeparamref name="T"/> every element is exactly one line (a managed T[] is only 8-byte aligned,
/// and most of its 64-byte elements straddle two lines: two misses per lookup instead of one). It lives in a pinned
/// byte array, which never moves, from the first boundary on; the address of that first element is kept, so an
/// element is one bounds check and one address computation away (no array header and offset to reload on every
/// access). Indexing is bounds-checked like an array's. A struct, so that its owner holds the address itself: one load
/// fewer before every slot access on the packet path.
/// </summary>
internal readonly unsafe struct LineAlignedArray<T>
    where T : unmanaged
{
    // Keeps the pinned storage alive: _first points into it.
    private readonly byte[] _bytes;
    private readonly T* _first;

    public LineAlignedArray(int length)
    {
        Length = length;
        _bytes = GC.AllocateArray<byte>(checked((length * Unsafe.SizeOf<T>()) + CacheLine.Size - 1), pinned: true);
        _first = (T*)((byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_bytes)) + CacheLine.OffsetToLineStart(_bytes));
    }

    public int Length { get; }

    /// <summary>Where the first element starts (a 64-byte boundary); the storage never moves.</summary>
    public nint Address => (nint)_first;

    /// <summary>Bytes from <see cref="Address"/> to the end of the last element.</summary>
    public nuint ByteLength => (nuint)((long)Length * Unsafe.SizeOf<T>());

    public ref T this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Length)
            {
                ThrowIndexOutOfRange();
            }

            return ref _first[index];
        }
    }

    private static void ThrowIndexOutOfRange() => throw new IndexOutOfRangeException();
}
