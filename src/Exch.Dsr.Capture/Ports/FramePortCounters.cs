using System.Collections.Frozen;
using Exch.Dsr.Capture.Interop;

namespace Exch.Dsr.Capture.Ports;

/// <summary>A port's counters at one moment. Every figure counts from the port's opening.</summary>
/// <param name="Received">Frames handed to the caller by receives.</param>
/// <param name="Sent">Frames the kernel accepted for sending.</param>
/// <param name="SendFailures">Frames the kernel refused (all errno values together; see <paramref name="SendFailuresByErrno"/>).</param>
/// <param name="SendRejected">Frames refused before reaching the kernel: empty, or longer than the port's maximum.</param>
/// <param name="VlanTagsReinserted">Received frames whose 802.1Q tag was put back from the ring's metadata.</param>
/// <param name="KernelReceived">Frames the kernel queued for this socket (PACKET_STATISTICS tp_packets, or pcap_stats ps_recv).</param>
/// <param name="KernelDropped">Frames the kernel dropped because the ring or buffer was full (tp_drops / ps_drop).</param>
/// <param name="SendFailuresByErrno">Refusals by errno name ("ENOBUFS", "EAGAIN", ...); only names that occurred.</param>
public sealed record FramePortCounters(
    long Received,
    long Sent,
    long SendFailures,
    long SendRejected,
    long VlanTagsReinserted,
    long KernelReceived,
    long KernelDropped,
    IReadOnlyDictionary<string, long> SendFailuresByErrno);

/// <summary>
/// The mutable counters behind <see cref="FramePortCounters"/>. The owning thread increments them with plain stores
/// (aligned 64-bit stores are atomic on x86-64, and only one thread writes); readers on other threads use volatile
/// loads and may see a snapshot a few frames old. Kernel figures come from calls that reset the kernel's own counters,
/// so they are accumulated with Interlocked in case two threads read at once.
/// </summary>
internal sealed class PortCounterSet
{
    // Linux errno values stop below 134; the last slot collects anything larger.
    private const int ErrnoSlots = 134;

    private readonly long[] _sendFailuresByErrno = new long[ErrnoSlots + 1];
    private long _received;
    private long _sent;
    private long _sendFailures;
    private long _sendRejected;
    private long _vlanTagsReinserted;
    private long _kernelReceived;
    private long _kernelDropped;

    public void AddReceived(int frames) => _received += frames;

    public void AddSent(int frames) => _sent += frames;

    public void AddSendRejected() => _sendRejected++;

    public void AddVlanTagReinserted() => _vlanTagsReinserted++;

    public void AddSendFailure(Errno errno)
    {
        _sendFailures++;
        _sendFailuresByErrno[(uint)errno < ErrnoSlots ? (int)errno : ErrnoSlots]++;
    }

    public void AddKernel(uint received, uint dropped)
    {
        Interlocked.Add(ref _kernelReceived, received);
        Interlocked.Add(ref _kernelDropped, dropped);
    }

    /// <summary>Sets the kernel figures outright, for sources that report totals (pcap_stats) rather than deltas.</summary>
    public void SetKernel(long received, long dropped)
    {
        Volatile.Write(ref _kernelReceived, received);
        Volatile.Write(ref _kernelDropped, dropped);
    }

    public FramePortCounters Snapshot()
    {
        var byErrno = new Dictionary<string, long>();
        for (int i = 0; i < _sendFailuresByErrno.Length; i++)
        {
            long count = Volatile.Read(ref _sendFailuresByErrno[i]);
            if (count != 0)
            {
                string name = i == ErrnoSlots ? "other" : Enum.IsDefined((Errno)i) ? ((Errno)i).ToString() : $"errno {i}";
                byErrno[name] = count;
            }
        }

        return new FramePortCounters(
            Volatile.Read(ref _received),
            Volatile.Read(ref _sent),
            Volatile.Read(ref _sendFailures),
            Volatile.Read(ref _sendRejected),
            Volatile.Read(ref _vlanTagsReinserted),
            Volatile.Read(ref _kernelReceived),
            Volatile.Read(ref _kernelDropped),
            byErrno.ToFrozenDictionary());
    }
}
