using System.Runtime.InteropServices;
using Exch.Dsr.Capture.Interop;
using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.LibPcap;

/// <summary>
/// A frame port on libpcap: pcap_dispatch to receive, pcap_inject to send, direction "in" so the port never sees
/// the frames it injected.
/// </summary>
/// <remarks>
/// <para>One copy per received frame, on purpose. libpcap's Linux capture reads a kernel ring and hands each slot
/// (TPACKET_V2, immediate mode) or block (TPACKET_V3) back to the kernel as soon as the callback for it has returned,
/// inside pcap_dispatch. A pointer kept past the callback can be overwritten by the next frame, so the callback
/// copies caplen bytes into a native area allocated once at open, and the batch points there.</para>
/// <para>Waiting: the handle is non-blocking; a receive polls libpcap's selectable fd next to an eventfd, so
/// <see cref="Wakeup"/> and the timeout are ours, and pcap_breakloop's sticky flag is never needed.</para>
/// <para>libpcap itself re-inserts a VLAN tag the kernel stripped, so frames arrive with their tag.</para>
/// </remarks>
public sealed unsafe class PcapPort : IFramePort
{
    private readonly SafePcapHandle _pcap;
    private readonly WakeupEvent _wakeup = new();
    private readonly PortCounterSet _counters = new();
    private readonly Lock _statsLock = new();
    private readonly int _selectableFd;
    private readonly int _slotStride;
    private readonly int _maxBatch;
    private readonly SafeNativeMemory _arena;
    private int _disposed;

    private PcapPort(PcapPortOptions options, SafePcapHandle pcap, int selectableFd)
    {
        InterfaceName = options.InterfaceName;
        MaxFrameLength = options.MaxFrameLength;
        _pcap = pcap;
        _selectableFd = selectableFd;
        _maxBatch = options.MaxBatchSize;
        _slotStride = (options.MaxFrameLength + 63) & ~63;
        _arena = new SafeNativeMemory((nuint)_slotStride * (nuint)_maxBatch, 64);
    }

    public string InterfaceName { get; }

    public int MaxFrameLength { get; }

    /// <summary>The libpcap version string, e.g. "libpcap version 1.10.3 (with TPACKET_V3)"; throws <see cref="DllNotFoundException"/> naming libpcap0.8 when absent.</summary>
    public static string LibraryVersion => Marshal.PtrToStringUTF8((nint)Pcap.LibVersion()) ?? "unknown";

    /// <summary>True when libpcap can be loaded; <paramref name="message"/> says what to install otherwise.</summary>
    public static bool IsLibraryAvailable(out string message)
    {
        if (Libraries.TryLoadLibPcap(out _, out string tried))
        {
            message = $"libpcap loaded as {tried}";
            return true;
        }

        message = $"libpcap is not installed (tried {tried}); install the Debian package {Libraries.LibPcapPackage}";
        return false;
    }

    /// <summary>
    /// Opens <see cref="PcapPortOptions.InterfaceName"/>: create, configure, activate, direction in, filter,
    /// non-blocking. Throws <see cref="FramePortException"/> with libpcap's message (no such device, permission
    /// denied, interface down, bad filter); activation warnings are returned in <paramref name="warning"/>.
    /// </summary>
    public static PcapPort Open(PcapPortOptions options, out string? warning)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxFrameLength, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchSize, 1);
        if (!IsLibraryAvailable(out string libraryMessage))
        {
            throw new FramePortException(libraryMessage);
        }

        warning = null;
        byte* errorBuffer = stackalloc byte[Pcap.PCAP_ERRBUF_SIZE];
        errorBuffer[0] = 0;
        nint raw = Pcap.Create(options.InterfaceName, errorBuffer);
        if (raw == 0)
        {
            throw new FramePortException($"pcap_create({options.InterfaceName}) failed: {Text(errorBuffer)}");
        }

        var pcap = new SafePcapHandle(raw);
        try
        {
            Check(raw, Pcap.SetSnapLen(raw, options.MaxFrameLength), "pcap_set_snaplen");
            Check(raw, Pcap.SetPromisc(raw, options.Promiscuous ? 1 : 0), "pcap_set_promisc");
            Check(raw, Pcap.SetImmediateMode(raw, options.ImmediateMode ? 1 : 0), "pcap_set_immediate_mode");
            Check(raw, Pcap.SetBufferSize(raw, options.BufferBytes), "pcap_set_buffer_size");
            Check(raw, Pcap.SetTimeout(raw, options.BufferTimeoutMilliseconds), "pcap_set_timeout");

            int status = Pcap.Activate(raw);
            if (status < 0)
            {
                throw new FramePortException(DescribeActivation(raw, options.InterfaceName, status));
            }

            if (status > 0)
            {
                warning = DescribeActivation(raw, options.InterfaceName, status);
            }

            if (Pcap.DataLink(raw) != Pcap.DLT_EN10MB)
            {
                throw new FramePortException($"{options.InterfaceName} is not an Ethernet interface (pcap link type {Pcap.DataLink(raw)})");
            }

            Check(raw, Pcap.SetDirection(raw, Pcap.Direction.PCAP_D_IN), "pcap_setdirection(PCAP_D_IN)");
            if (options.Filter is not null)
            {
                ApplyFilter(raw, options.Filter);
            }

            if (Pcap.SetNonBlock(raw, 1, errorBuffer) < 0)
            {
                throw new FramePortException($"pcap_setnonblock on {options.InterfaceName} failed: {Text(errorBuffer)}");
            }

            int fd = Pcap.GetSelectableFd(raw);
            if (fd < 0)
            {
                throw new FramePortException($"{options.InterfaceName} has no selectable descriptor");
            }

            return new PcapPort(options, pcap, fd);
        }
        catch
        {
            pcap.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public int Receive(FrameBatch batch, int timeoutMilliseconds)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.Clear();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

        bool pcapAdded = false, wakeAdded = false, arenaAdded = false;
        try
        {
            // Held for the whole call: a Dispose on another thread then only marks the handles, and pcap_close,
            // close and the copy area's free run when this receive releases them.
            _pcap.DangerousAddRef(ref pcapAdded);
            _wakeup.Handle.DangerousAddRef(ref wakeAdded);
            _arena.DangerousAddRef(ref arenaAdded);
            nint pcap = _pcap.DangerousGetHandle();
            int limit = Math.Min(batch.Capacity, _maxBatch);

            int count = DispatchInto(pcap, batch, limit);
            // After a Dispose woke the wait, hand out nothing: the copy area is freed as soon as this call returns.
            if (count == 0 && timeoutMilliseconds != 0 && WaitReadable(_wakeup.Handle.Fd, timeoutMilliseconds)
                && Volatile.Read(ref _disposed) == 0)
            {
                count = DispatchInto(pcap, batch, limit);
            }

            return count;
        }
        finally
        {
            if (arenaAdded)
            {
                _arena.DangerousRelease();
            }

            if (wakeAdded)
            {
                _wakeup.Handle.DangerousRelease();
            }

            if (pcapAdded)
            {
                _pcap.DangerousRelease();
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>pcap_inject writes at once (libpcap has no send batching), so there is never anything to flush.</remarks>
    public bool TrySend(ReadOnlySpan<byte> frame)
    {
        if (frame.IsEmpty || frame.Length > MaxFrameLength)
        {
            _counters.AddSendRejected();
            return false;
        }

        bool added = false;
        try
        {
            _pcap.DangerousAddRef(ref added);
            int sent;
            fixed (byte* bytes = frame)
            {
                sent = Pcap.Inject(_pcap.DangerousGetHandle(), bytes, (nuint)frame.Length);
            }

            if (sent < 0)
            {
                // pcap_inject failed in send(2); errno is still send's (libpcap only formats it into its buffer).
                _counters.AddSendFailure(ErrnoExtensions.LastErrno());
            }
            else
            {
                _counters.AddSent(1);
            }

            return true;
        }
        finally
        {
            if (added)
            {
                _pcap.DangerousRelease();
            }
        }
    }

    /// <inheritdoc />
    public int Flush() => 0;

    /// <inheritdoc />
    public void Wakeup() => _wakeup.Signal();

    /// <inheritdoc />
    public FramePortCounters ReadCounters()
    {
        bool added = false;
        try
        {
            _pcap.DangerousAddRef(ref added);
            Pcap.PcapStat stats;

            // pcap_stats keeps running totals inside the handle; the lock keeps two readers from interleaving there.
            lock (_statsLock)
            {
                if (Pcap.Stats(_pcap.DangerousGetHandle(), &stats) == 0)
                {
                    _counters.SetKernel(stats.ps_recv, stats.ps_drop);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed: the last figures read stand.
        }
        finally
        {
            if (added)
            {
                _pcap.DangerousRelease();
            }
        }

        return _counters.Snapshot();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _wakeup.Signal();
        _pcap.Dispose();
        _wakeup.Dispose();
        _arena.Dispose();
    }

    private int DispatchInto(nint pcap, FrameBatch batch, int limit)
    {
        fixed (FrameSlot* slots = batch.Slots)
        {
            var state = new DispatchState
            {
                Arena = _arena.Pointer,
                SlotStride = _slotStride,
                Slots = slots,
                Capacity = limit,
            };

            int result = Pcap.Dispatch(pcap, limit, &OnPacket, (byte*)&state);
            if (result < 0 && result != (int)PcapStatus.PCAP_ERROR_BREAK)
            {
                throw new FramePortException($"pcap_dispatch on {InterfaceName} failed: {Pcap.ErrorText(pcap)}");
            }

            if (state.Faulted != 0)
            {
                throw new FramePortException($"the pcap callback on {InterfaceName} failed");
            }

            batch.Count = state.Count;
            _counters.AddReceived(state.Count);
            return state.Count;
        }
    }

    /// <summary>Polls libpcap's fd and the wake-up eventfd; true when the capture fd is readable.</summary>
    private bool WaitReadable(int wakeFd, int timeoutMilliseconds)
    {
        long deadline = timeoutMilliseconds < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMilliseconds;
        Libc.PollFd* fds = stackalloc Libc.PollFd[2];
        while (true)
        {
            fds[0] = new Libc.PollFd { fd = _selectableFd, events = Libc.POLLIN };
            fds[1] = new Libc.PollFd { fd = wakeFd, events = Libc.POLLIN };
            int wait = timeoutMilliseconds < 0 ? -1 : (int)Math.Max(0, deadline - Environment.TickCount64);
            int ready = Libc.Poll(fds, 2, wait);
            if (ready < 0)
            {
                Errno errno = ErrnoExtensions.LastErrno();
                if (errno == Errno.EINTR && (timeoutMilliseconds < 0 || Environment.TickCount64 < deadline))
                {
                    continue;
                }

                if (errno == Errno.EINTR)
                {
                    return false;
                }

                throw new FramePortException($"poll on {InterfaceName} failed: {errno.Describe()}", (int)errno);
            }

            if ((fds[1].revents & Libc.POLLIN) != 0)
            {
                _wakeup.Drain(wakeFd);
            }

            // POLLERR (the interface went down, say) also goes to pcap_dispatch, which reports it with a message.
            return ready > 0 && fds[0].revents != 0;
        }
    }

    [UnmanagedCallersOnly]
    private static void OnPacket(byte* user, Pcap.PcapPktHdr* header, byte* bytes)
    {
        var state = (DispatchState*)user;
        try
        {
            if (state->Count >= state->Capacity)
            {
                return; // cannot happen (pcap_dispatch is given the capacity as its count), but never write past it
            }

            int length = (int)Math.Min(header->caplen, (uint)state->SlotStride);
            byte* target = state->Arena + ((nint)state->Count * state->SlotStride);
            Buffer.MemoryCopy(bytes, target, state->SlotStride, length);
            state->Slots[state->Count] = new FrameSlot { Data = (nint)target, Length = length, WireLength = (int)header->len };
            state->Count++;
        }
        catch
        {
            // An exception must never unwind into libpcap.
            state->Faulted = 1;
        }
    }

    private static void ApplyFilter(nint pcap, string filter)
    {
        Pcap.BpfProgram program;
        if (Pcap.Compile(pcap, &program, filter, 1, Pcap.PCAP_NETMASK_UNKNOWN) < 0)
        {
            throw new FramePortException($"the capture filter \"{filter}\" does not compile: {Pcap.ErrorText(pcap)}");
        }

        try
        {
            if (Pcap.SetFilter(pcap, &program) < 0)
            {
                throw new FramePortException($"pcap_setfilter(\"{filter}\") failed: {Pcap.ErrorText(pcap)}");
            }
        }
        finally
        {
            Pcap.FreeCode(&program);
        }
    }

    private static void Check(nint pcap, int status, string call)
    {
        if (status != 0)
        {
            throw new FramePortException($"{call} failed: {Pcap.StatusText(status)} ({Pcap.ErrorText(pcap)})");
        }
    }

    private static string DescribeActivation(nint pcap, string interfaceName, int status)
    {
        // For PCAP_ERROR, PCAP_ERROR_NO_SUCH_DEVICE, PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED and
        // PCAP_WARNING the handle's error buffer holds the details; for the others pcap_statustostr says it all.
        var code = (PcapStatus)status;
        string text = code is PcapStatus.PCAP_ERROR or PcapStatus.PCAP_ERROR_NO_SUCH_DEVICE or PcapStatus.PCAP_ERROR_PERM_DENIED
            or PcapStatus.PCAP_ERROR_PROMISC_PERM_DENIED or PcapStatus.PCAP_WARNING
            ? Pcap.ErrorText(pcap)
            : string.Empty;
        if (text.Length == 0)
        {
            text = Pcap.StatusText(status);
        }

        string hint = code switch
        {
            PcapStatus.PCAP_ERROR_PERM_DENIED or PcapStatus.PCAP_ERROR_PROMISC_PERM_DENIED => "; needs CAP_NET_RAW and CAP_NET_ADMIN",
            PcapStatus.PCAP_ERROR_IFACE_NOT_UP => $"; bring it up with: ip link set {interfaceName} up",
            _ => string.Empty,
        };
        string kind = status < 0 ? "cannot capture on" : "warning on";
        return $"pcap_activate {kind} {interfaceName}: {text} ({code}){hint}";
    }

    private static string Text(byte* errorBuffer) => Marshal.PtrToStringUTF8((nint)errorBuffer) ?? string.Empty;

    /// <summary>Lives on the receiving thread's stack for one pcap_dispatch; the callback gets its address as "user".</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct DispatchState
    {
        public byte* Arena;
        public FrameSlot* Slots;
        public int SlotStride;
        public int Capacity;
        public int Count;
        public int Faulted;
    }
}
