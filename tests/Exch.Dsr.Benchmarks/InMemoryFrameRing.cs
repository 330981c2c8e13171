using System.Runtime.CompilerServices;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;

namespace Exch.Dsr.Benchmarks;

/*
 * The in-memory frame source of the engine benchmarks: prebuilt frames back to back in one array, one fixed-size slot
 * per frame, read in order and wrapped around. It stands in for an AF_PACKET ring, whose frames also sit one after
 * another in one mapping, so reading the frames costs what reading a ring costs (sequential, prefetch-friendly) and
 * the randomness the tables see comes from the order the clients were laid out in, not from chasing pointers to
 * a million separate byte[]s.
 *   slot i: bytes [i * SlotSize, i * SlotSize + Length(i)); SlotSize 64 bytes, 128 for rings of IPv6 frames
 * The engine rewrites the two MAC addresses of a forwarded frame in place, and a frame whose source is the appliance
 * is its own output coming back (the loop guard drops it), so a slot is not replayable as the engine left it:
 * Restore writes the 12 address bytes back as they arrived (one 8-byte and one 4-byte store into a cache line the
 * engine just touched, the stand-in for the NIC writing the next frame into the ring slot). Every frame of a ring
 * arrives with the same two addresses.
 */
internal sealed class InMemoryFrameRing
{
    private readonly int _slotShift;
    private readonly byte[] _data;
    private readonly byte[] _lengths;
    private readonly ulong _addressesHead;
    private readonly uint _addressesTail;

    /// <param name="ipv6">Slots of 128 bytes, which an IPv6 TCP frame needs (74 bytes), instead of 64.</param>
    public InMemoryFrameRing(int count, MacAddress destination, MacAddress source, bool ipv6 = false)
    {
        _slotShift = ipv6 ? 7 : 6;
        Count = count;
        Destination = destination;
        Source = source;
        _data = GC.AllocateUninitializedArray<byte>(count * SlotSize, pinned: true);
        _lengths = new byte[count];
        Span<byte> addresses = stackalloc byte[2 * MacAddress.Length];
        destination.WriteTo(addresses);
        source.WriteTo(addresses[MacAddress.Length..]);
        _addressesHead = Unsafe.ReadUnaligned<ulong>(ref addresses[0]);
        _addressesTail = Unsafe.ReadUnaligned<uint>(ref addresses[8]);
    }

    /// <summary>The destination MAC every frame arrives with (the appliance).</summary>
    public MacAddress Destination { get; }

    /// <summary>The source MAC every frame arrives with (the router).</summary>
    public MacAddress Source { get; }

    public int Count { get; }

    public int SlotSize => 1 << _slotShift;

    /// <summary>Bytes held by the ring (so the memory report can leave them out).</summary>
    public long Footprint => _data.LongLength + _lengths.LongLength;

    public Span<byte> Frame(int index) => _data.AsSpan(index << _slotShift, _lengths[index]);

    /// <summary>Puts back the MAC addresses frame <paramref name="index"/> arrived with.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Restore(int index)
    {
        ref var slot = ref _data[index << _slotShift];
        Unsafe.WriteUnaligned(ref slot, _addressesHead);
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref slot, 8), _addressesTail);
    }

    /// <summary>Composes a client→VIP TCP segment (no payload) into slot <paramref name="index"/>.</summary>
    public void ComposeTcp(int index, IpAddress128 client, ushort clientPort, IpAddress128 vip, ushort vipPort, TcpFlags flags, uint sequence)
    {
        var slot = _data.AsSpan(index * SlotSize, SlotSize);
        var ip = new IpHeader(client, vip, Ttl: 127, Identification: (ushort)index);
        var tcp = new TcpHeader(clientPort, vipPort, flags, sequence, (flags & TcpFlags.Ack) != 0 ? sequence ^ 0x5A5A_5A5Au : 0u);
        if (!FrameComposer.TryComposeTcp(slot, new L2Header(Destination, Source), ip, tcp, default, out var written))
        {
            throw new InvalidOperationException($"a TCP frame does not fit a {SlotSize}-byte slot");
        }

        _lengths[index] = (byte)written;
    }

    /// <summary>
    /// The timed loop of every engine benchmark: <paramref name="count"/> frames from <paramref name="cursor"/> on,
    /// <paramref name="intervalNs"/> apart, each put back after the engine rewrote its MACs (else the loop guard
    /// would drop it the next time round). Returns how many were forwarded.
    /// </summary>
    public int Process(ForwardingEngine engine, int count, long intervalNs, ref long nowNs, ref int cursor)
    {
        var now = nowNs;
        var at = cursor;
        var forwarded = 0;
        for (var i = 0; i < count; i++)
        {
            now += intervalNs;
            forwarded += engine.Process(Frame(at), now) == ForwardVerdict.Forwarded ? 1 : 0;
            Restore(at);
            at = at + 1 == Count ? 0 : at + 1;
        }

        nowNs = now;
        cursor = at;
        return forwarded;
    }

    /// <summary>
    /// The same frames the way the forwarding thread runs a receive: <paramref name="batch"/> frames at a time through
    /// <see cref="ForwardingEngine.ProcessBatch"/> (one clock reading per batch), then each put back. A batch ends
    /// early at the end of the ring, as a receive batch ends at the end of a ring's blocks.
    /// </summary>
    public int ProcessBatches(ForwardingEngine engine, int count, int batch, long intervalNs, ref long nowNs, ref int cursor)
    {
        var now = nowNs;
        var at = cursor;
        var forwarded = 0;
        Span<ForwardVerdict> verdicts = stackalloc ForwardVerdict[batch];
        for (var done = 0; done < count;)
        {
            var frames = new RingBatch(this, at, Math.Min(Math.Min(batch, count - done), Count - at));
            now += intervalNs * frames.Count;
            engine.ProcessBatch(ref frames, now, verdicts);
            for (var i = 0; i < frames.Count; i++)
            {
                forwarded += verdicts[i] == ForwardVerdict.Forwarded ? 1 : 0;
                Restore(at + i);
            }

            done += frames.Count;
            at = at + frames.Count == Count ? 0 : at + frames.Count;
        }

        nowNs = now;
        cursor = at;
        return forwarded;
    }

    private readonly struct RingBatch(InMemoryFrameRing ring, int first, int count) : IFrameBatch
    {
        public int Count => count;

        public Span<byte> this[int index] => ring.Frame(first + index);
    }
}
