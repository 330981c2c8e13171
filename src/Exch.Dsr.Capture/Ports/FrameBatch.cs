using System.Runtime.InteropServices;

namespace Exch.Dsr.Capture.Ports;

/// <summary>
/// The frames of one <see cref="IFramePort.Receive"/>, as spans over the port's native memory: no copy into managed
/// memory, no allocation per receive. Create one per forwarding thread and reuse it.
/// </summary>
public sealed class FrameBatch
{
    internal readonly FrameSlot[] Slots;

    public FrameBatch(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Slots = new FrameSlot[capacity];
    }

    /// <summary>How many frames one receive may return.</summary>
    public int Capacity => Slots.Length;

    /// <summary>How many frames the last receive returned.</summary>
    public int Count { get; internal set; }

    /// <summary>
    /// The bytes of frame <paramref name="index"/> from the destination MAC on, writable in place. Valid until the next
    /// receive on (or disposal of) the port that filled this batch.
    /// </summary>
    public unsafe Span<byte> this[int index]
    {
        get
        {
            ref readonly FrameSlot slot = ref SlotAt(index);
            return new Span<byte>((void*)slot.Data, slot.Length);
        }
    }

    /// <summary>The frame's length on the wire; larger than the span when the capture truncated it.</summary>
    public int WireLength(int index) => SlotAt(index).WireLength;

    /// <summary>True when the frame was cut at the capture length and must not be forwarded.</summary>
    public bool IsTruncated(int index)
    {
        ref readonly FrameSlot slot = ref SlotAt(index);
        return slot.Length < slot.WireLength;
    }

    internal void Clear() => Count = 0;

    private ref readonly FrameSlot SlotAt(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            ThrowIndex(index);
        }

        return ref Slots[index];
    }

    private void ThrowIndex(int index) =>
        throw new ArgumentOutOfRangeException(nameof(index), index, $"the batch holds {Count} frames");
}

/// <summary>Where one received frame lies: a pointer into native memory the port keeps alive until its next receive.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FrameSlot
{
    public nint Data;
    public int Length;
    public int WireLength;
}
