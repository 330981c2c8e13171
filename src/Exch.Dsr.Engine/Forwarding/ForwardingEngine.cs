using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Scheduling;
using Exch.Dsr.Engine.Tables;

namespace Exch.Dsr.Engine.Forwarding;

/// <summary>
/// The DSR forwarding decision for one frame at a time: classify, find or schedule the real server, rewrite the
/// Ethernet destination (server) and source (us) in place. The IP packet is not touched.
/// <para>
/// Threading: one engine per forwarding thread; <c>Process</c>, <c>ProcessBatch</c> and the status methods belong to
/// that thread. <see cref="Publish"/> may be called from any thread: it stores one reference, which the next
/// <c>Process</c> picks up. Adopting a new snapshot (growing counters, creating persistence tables) happens on
/// the forwarding thread at that point, so no table is ever shared or locked.
/// </para>
/// <para>
/// Steady state the packet path allocates nothing, takes no lock and throws nothing: malformed input is a verdict.
/// </para>
/// </summary>
// The frame's locals (views, flow key, decision) are all written before they are read: zeroing them first, in every
// call, was a measurable part of a cached frame's time.
[SkipLocalsInit]
public sealed class ForwardingEngine
{
    /// <summary>Frames <see cref="ProcessBatch"/> reads ahead: enough misses in flight to cover a memory latency.</summary>
    public const int BatchChunk = 32;

    // Probe passes of ProcessBatch for IPv6 flows: with two, a million-client batch took 62-64 ns a frame against 77-78
    // with none and 66-68 with one when every flow had a 64-byte entry; a third cost more than it saved (RESULTS.md §4).
    private const int ProbeAhead = 2;

    // A frame after a gap in the traffic may sweep one unit (a line of connection slots, a persistence entry) per this
    // much of the gap: the thread had nothing else to do, and it spends well under a tenth of that time on it. At most
    // this many budgets a call, so no single frame waits long for the sweep.
    private const long QuietNsPerSweptUnit = 2_500;
    private const int MaxQuietSweepFactor = 128;

    // A reading from Idle has no frame waiting behind it (the receive timed out), so it may sweep more: at the default
    // budget 16,384 lines of connection slots (169 µs median, 247 µs p99 with a million live IPv4 connections), so ten
    // readings a second lap the default table in about 14 s (5 s nearly empty) and a silent appliance drops expired
    // connections within seconds. A frame's reading stays at 128 budgets, so no frame waits more than a few
    // microseconds for the sweep.
    private const int MaxIdleSweepFactor = 2048;

    // Keeps the sweep's credit (interval × slots, in slot-nanoseconds) within a long at the largest table (about 10^8
    // slots of both families at 16,777,215 connections).
    private const long MaxSweepIntervalNs = 60L * 1_000_000_000;

    private readonly ForwardingEngineOptions _options;
    private readonly PersistenceTableSet _persistence = new();
    private readonly ConnectionTable _connections;
    private readonly FragmentTable _fragments;
    private readonly long[] _verdicts = new long[EngineCountersSnapshot.VerdictCount];
    private readonly long[] _malformed = new long[EngineCountersSnapshot.MalformedCount];
    private readonly long[] _events = new long[EngineCountersSnapshot.EventCount];
    private readonly long[] _retiredPersistence = new long[3];
    private long[] _members = [];
    private int _counterServices;
    private int _counterServers;
    private SchedulerCursor[] _cursors = [];
    private RoutingSnapshot? _published;
    private RoutingSnapshot? _current;

    // False while the appliance's own MAC is also a real server's: then every frame must meet the loop guard.
    private bool _knownFlowPathOpen;

    // The twelve address bytes Forward writes, by server id, for the adopted snapshot.
    private AddressRewrite[] _rewrites = [];

    // What ProcessBatch read of each frame of a chunk before deciding any of them.
    private readonly BatchFlow[] _batchFlows = new BatchFlow[BatchChunk];
    private readonly long _sweepIntervalNs;
    private int _persistenceSweepService;
    private long _sweptAtNs = long.MinValue;
    private SweepPacer _persistencePacer;

    public ForwardingEngine(MacAddress applianceMac, ForwardingEngineOptions? options = null)
    {
        ApplianceMac = applianceMac;
        _options = options ?? new ForwardingEngineOptions();
        _connections = new ConnectionTable(_options.ConnectionCapacity, _persistence, _options.ConnectionTableMemory, _options.TableHashSeed);
        _fragments = new FragmentTable(_options.FragmentCapacity, _options.FragmentTimeout.Ticks * 100, _options.TableHashSeed);
        _sweepIntervalNs = Math.Clamp(_options.SweepInterval.Ticks * 100, 1, MaxSweepIntervalNs);
    }

    public MacAddress ApplianceMac { get; }

    /// <summary>Frames forwarded by the known-flow path (tests compare it with the general path).</summary>
    internal long KnownFlowFrames { get; private set; }

    /// <summary>The snapshot the packet path last adopted (null before the first frame after a publish).</summary>
    public RoutingSnapshot? Current => _current;

    /// <summary>Makes <paramref name="snapshot"/> the routing state for the next frame. Thread-safe, wait-free.</summary>
    public void Publish(RoutingSnapshot snapshot) => Volatile.Write(ref _published, snapshot);

    /// <summary>
    /// Classifies <paramref name="frame"/> and, when the verdict is <see cref="ForwardVerdict.Forwarded"/>, rewrites its
    /// Ethernet addresses in place. <paramref name="nowNs"/> is the caller's clock (e.g. the capture timestamp).
    /// </summary>
    public ForwardVerdict Process(Span<byte> frame, long nowNs, out ForwardDecision decision)
    {
        var snapshot = Enter(nowNs);
        if (snapshot is null)
        {
            decision = default;
            return Count(ForwardVerdict.NotOurs);
        }

        if (TryForwardKnownFlow(snapshot, frame, nowNs, out var key, out var serviceId, out var serverId))
        {
            var service = snapshot.GetService(serviceId)!;
            decision = new ForwardDecision(serviceId, serverId, key.Client, key.ClientPort, key.Vip, key.VipPort, service.Protocol, default, DecisionReason.ExistingFlow, false, false);
            return Count(ForwardVerdict.Forwarded);
        }

        return Classified(Classify(snapshot, frame, nowNs, out decision), in decision);
    }

    /// <summary>
    /// <see cref="Process(Span{byte}, long, out ForwardDecision)"/> for a caller that does not keep the decision (the
    /// forwarding loop): the same verdict and the same rewrite, without building the decision of a known flow's frame.
    /// </summary>
    public ForwardVerdict Process(Span<byte> frame, long nowNs)
    {
        var snapshot = Enter(nowNs);
        if (snapshot is null)
        {
            return Count(ForwardVerdict.NotOurs);
        }

        if (TryForwardKnownFlow(snapshot, frame, nowNs, out _, out _, out _))
        {
            return Count(ForwardVerdict.Forwarded);
        }

        return Classified(Classify(snapshot, frame, nowNs, out var decision), in decision);
    }

    /// <summary>
    /// <see cref="Process(Span{byte}, long)"/> for every frame of <paramref name="frames"/> in order, all at
    /// <paramref name="nowNs"/>, with the same verdicts, rewrites and state as those calls; verdict i goes to
    /// <paramref name="verdicts"/>[i]. A receive loop calls this: it reads each frame's flow once, in chunks of
    /// <see cref="BatchChunk"/>, and starts loading all of a chunk's connection-table lines (the home lines, then for
    /// IPv6 flows up to two lines further when the loaded one holds other keys) before deciding any of its frames, so
    /// that with a million connections their cache misses overlap instead of following one another.
    /// </summary>
    public void ProcessBatch<TFrames>(ref TFrames frames, long nowNs, Span<ForwardVerdict> verdicts)
        where TFrames : struct, IFrameBatch
    {
        var count = frames.Count;
        ArgumentOutOfRangeException.ThrowIfLessThan(verdicts.Length, count, nameof(verdicts));
        var flows = _batchFlows;
        for (var start = 0; start < count; start += BatchChunk)
        {
            var end = Math.Min(start + BatchChunk, count);
            var snapshot = Enter(nowNs);
            if (snapshot is null)
            {
                for (var i = start; i < end; i++)
                {
                    verdicts[i] = Count(ForwardVerdict.NotOurs);
                }

                continue;
            }

            // An IPv6 flow whose line holds another key lies further along the probe (one 64-byte entry a line at
            // half load: about one lookup in four). Each pass looks at the lines the last one loaded and starts
            // loading the next for the flows not found yet, so the deciding pass rarely waits. IPv4 flows, two to a
            // line at a quarter load, are in the line already asked for 97 % of the time: a pass would cost them more
            // than it saved (RESULTS.md §4).
            var probing = ReadFlows(ref frames, start, end);
            for (var pass = 0; pass < ProbeAhead && probing; pass++)
            {
                probing = false;
                for (var i = start; i < end; i++)
                {
                    ref var flow = ref flows[i - start];
                    if (flow.Probe >= 0)
                    {
                        flow.Probe = _connections.IPv6Slots.PrefetchPast(flow.Key, flow.Probe);
                        probing |= flow.Probe >= 0;
                    }
                }
            }

            Decide(ref frames, snapshot, start, end, nowNs, verdicts);
        }
    }

    /// <summary>
    /// The first pass over a chunk: each frame's flow read once, its home line asked for. True when an IPv6 flow was
    /// read, whose probe the passes may carry on.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool ReadFlows<TFrames>(ref TFrames frames, int start, int end)
        where TFrames : struct, IFrameBatch
    {
        // Locals, so that the loop does not reload them through the engine after each store to a flow.
        var flows = _batchFlows;
        var v4 = _connections.IPv4Slots;
        var v6 = _connections.IPv6Slots;
        var anyIPv6 = false;
        for (var i = start; i < end; i++)
        {
            ref var flow = ref flows[i - start];
            flow.Probe = -1;
            flow.Shape = FlowFrame.TryRead(frames[i], ref flow.IPv4, ref flow.Key, out flow.Flags);
            if (flow.Shape == FlowShape.IPv6 && IPv4Flow.Fits(flow.Key))
            {
                // An IPv6 header with two IPv4-mapped addresses: the table keeps that flow with the IPv4 ones.
                flow.IPv4 = IPv4Flow.From(flow.Key);
                flow.Shape = FlowShape.IPv4;
            }

            if (flow.Shape == FlowShape.IPv4)
            {
                flow.Home = v4.Home(flow.IPv4);
                v4.Prefetch(flow.Home);
            }
            else if (flow.Shape == FlowShape.IPv6)
            {
                flow.Home = v6.Home(flow.Key);
                flow.Probe = flow.Home;
                v6.Prefetch(flow.Home);
                anyIPv6 = true;
            }
        }

        return anyIPv6;
    }

    /// <summary>The deciding pass over a chunk, with what <see cref="ReadFlows"/> read.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Decide<TFrames>(ref TFrames frames, RoutingSnapshot snapshot, int start, int end, long nowNs, Span<ForwardVerdict> verdicts)
        where TFrames : struct, IFrameBatch
    {
        var flows = _batchFlows;
        for (var i = start; i < end; i++)
        {
            var frame = frames[i];
            ref readonly var flow = ref flows[i - start];
            var known = flow.Shape switch
            {
                FlowShape.IPv4 => TryForwardKnownFlow(snapshot, frame, flow.IPv4, flow.Flags, flow.Home, nowNs),
                FlowShape.IPv6 => MayBeKnownFlow(frame, flow.Flags)
                    && TryForwardKnownFlow(_connections.IPv6Slots, snapshot, frame, flow.Key, flow.Key.Vip, flow.Key.Protocol, flow.Key.VipPort, flow.Flags, flow.Home, nowNs, out _, out _),
                _ => false,
            };
            verdicts[i] = known
                ? Count(ForwardVerdict.Forwarded)
                : Classified(Classify(snapshot, frame, nowNs, out var decision), in decision);
        }
    }

    /// <summary>Adopts a newly published snapshot and runs the sweeps that came due; null before the first publish.</summary>
    private RoutingSnapshot? Enter(long nowNs, int maxSweepFactor = MaxQuietSweepFactor)
    {
        var snapshot = Volatile.Read(ref _published);
        if (!ReferenceEquals(snapshot, _current))
        {
            Adopt(snapshot!);
        }

        // The sweeps are paced by packet time, so at a clock reading they already ran for nothing more is due; running
        // them once per reading also keeps the state the same however the frames of that reading are batched.
        if (snapshot is not null && nowNs != _sweptAtNs)
        {
            var quietNs = _sweptAtNs == long.MinValue || !_options.SweepAfterQuietGaps ? 0 : nowNs - _sweptAtNs;
            _sweptAtNs = nowNs;
            _connections.SweepDue(nowNs, _sweepIntervalNs, SweepAllowance(_options.ConnectionSweepBudget, quietNs, maxSweepFactor));
            SweepPersistence(snapshot, nowNs, SweepAllowance(_options.PersistenceSweepBudget, quietNs, maxSweepFactor));
        }

        return snapshot;
    }

    private ForwardVerdict Classified(ForwardVerdict verdict, in ForwardDecision decision)
    {
        if (verdict == ForwardVerdict.Malformed)
        {
            _malformed[(int)decision.Malformed]++;
        }

        return Count(verdict);
    }

    /// <summary>
    /// The frame of a flow the engine already forwards, in the common shape and addressed to the appliance: its
    /// connection entry names the service and server, so neither the general parse nor the service lookup is needed.
    /// Says no, having changed nothing, whenever the general path could decide otherwise: another shape, a frame not
    /// addressed to us (the loop guard's business), no live connection (an expired one is the general path's to
    /// remove), a connection whose service no longer serves this VIP and port, or a server that no longer keeps its
    /// connections (re-dispatch).
    /// </summary>
    private bool TryForwardKnownFlow(RoutingSnapshot snapshot, Span<byte> frame, long nowNs, out FlowKey key, out int serviceId, out int serverId)
    {
        if (!FlowFrame.TryRead(frame, out key, out var flags))
        {
            serviceId = -1;
            serverId = -1;
            return false;
        }

        return TryForwardKnownFlow(snapshot, frame, key, flags, _connections.Home(key), nowNs, out serviceId, out serverId);
    }

    /// <summary>The known-flow path for a frame already read as <paramref name="key"/>, whose slot search starts at <paramref name="home"/>.</summary>
    private bool TryForwardKnownFlow(RoutingSnapshot snapshot, Span<byte> frame, in FlowKey key, TcpFlags flags, int home, long nowNs, out int serviceId, out int serverId)
    {
        serviceId = -1;
        serverId = -1;
        if (!MayBeKnownFlow(frame, flags))
        {
            return false;
        }

        return home < _connections.IPv6Offset
            ? TryForwardKnownFlow(_connections.IPv4Slots, snapshot, frame, IPv4Flow.From(key), key.Vip, key.Protocol, key.VipPort, flags, home, nowNs, out serviceId, out serverId)
            : TryForwardKnownFlow(_connections.IPv6Slots, snapshot, frame, key, key.Vip, key.Protocol, key.VipPort, flags, home - _connections.IPv6Offset, nowNs, out serviceId, out serverId);
    }

    /// <summary>The known-flow path for an IPv4 frame of a batch, read as <paramref name="flow"/>, whose home slot is <paramref name="home"/>.</summary>
    private bool TryForwardKnownFlow(RoutingSnapshot snapshot, Span<byte> frame, in IPv4Flow flow, TcpFlags flags, int home, long nowNs)
        => MayBeKnownFlow(frame, flags)
            && TryForwardKnownFlow(_connections.IPv4Slots, snapshot, frame, flow, IpAddress128.FromIPv4(flow.Vip), flow.Protocol, flow.VipPort, flags, home, nowNs, out _, out _);

    /// <summary>
    /// What the known-flow path asks of the frame itself. A SYN is nearly always a new flow: it goes straight to the
    /// general path, whose connection and persistence lookups then miss the cache together instead of one after the
    /// other (~200 ns a new client at 1M). A frame not addressed to the appliance, or sent by it, is the loop guard's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool MayBeKnownFlow(Span<byte> frame, TcpFlags flags)
    {
        if (!_knownFlowPathOpen || (flags & TcpFlags.Syn) != 0)
        {
            return false;
        }

        // Bytes 0-5 are the destination, 6-11 the source: two loads instead of two six-byte reads.
        var destination = BinaryPrimitives.ReadUInt64BigEndian(frame) >> 16;
        var source = BinaryPrimitives.ReadUInt64BigEndian(frame[4..]) & 0xFFFF_FFFF_FFFFUL;
        var appliance = ApplianceMac.ToUInt64();
        return destination == appliance && source != appliance;
    }

    /// <summary>
    /// The known-flow path past the checks on the frame, in the slots of the flow's family: one generic body, compiled
    /// once per entry layout and key form, so the entry's fields are plain loads. Leaves an expired connection for the
    /// general path to remove, so a frame it says no to has had no effect.
    /// </summary>
    private bool TryForwardKnownFlow<TEntry, TKey>(FlowSlots<TEntry, TKey> family, RoutingSnapshot snapshot, Span<byte> frame, in TKey key, in IpAddress128 vip, byte protocol, ushort vipPort, TcpFlags flags, int home, long nowNs, out int serviceId, out int serverId)
        where TEntry : unmanaged, IConnectionEntry<TEntry, TKey>
        where TKey : struct
    {
        serviceId = -1;
        serverId = -1;
        ref var connection = ref family.Find(key, home, out var slot);
        if (Unsafe.IsNullRef(ref connection) || connection.ExpiresAtNs <= nowNs)
        {
            return false;
        }

        var service = snapshot.GetService(connection.ServiceId);
        var server = connection.ServerId;
        if (service is null
            || !service.Serves(vip, protocol, vipPort)
            || (service.GetDisposition(server) & MemberDisposition.KeepsConnections) == 0)
        {
            return false;
        }

        var state = protocol == IpProtocols.Tcp ? TcpStateMachine.Next(connection.State, flags) : ConnectionState.Udp;
        _connections.Update(family, slot, ref connection, state, nowNs + service.TimeoutNs(state), nowNs);
        Forward(frame, service.Id, server);
        KnownFlowFrames++;
        serviceId = service.Id;
        serverId = server;
        return true;
    }

    /// <summary>
    /// A clock reading without a frame: adopts a newly published snapshot and runs the sweeps that came due. The
    /// forwarding thread calls it when a receive times out, so that on a silent link connections still expire and
    /// leave the counts lc and wlc read. With <see cref="ForwardingEngineOptions.SweepAfterQuietGaps"/> it may sweep
    /// up to 2,048 budgets after its gap, a frame's reading up to 128.
    /// </summary>
    public void Idle(long nowNs) => Enter(nowNs, MaxIdleSweepFactor);

    /// <summary>Also processes pending work (snapshot adoption) without a frame; useful before reading status.</summary>
    public void AdoptPublished()
    {
        var snapshot = Volatile.Read(ref _published);
        if (!ReferenceEquals(snapshot, _current) && snapshot is not null)
        {
            Adopt(snapshot);
        }
    }

    /// <summary>Established connections on <paramref name="serverId"/>.</summary>
    public int ActiveConnections(int serverId)
        => (uint)serverId < (uint)_connections.ActiveByServer.Length ? _connections.ActiveByServer[serverId] : 0;

    /// <summary>Connections in other states on <paramref name="serverId"/>.</summary>
    public int InactiveConnections(int serverId)
        => (uint)serverId < (uint)_connections.InactiveByServer.Length ? _connections.InactiveByServer[serverId] : 0;

    public int ConnectionCount => _connections.Count;

    /// <summary>Connections the engine tracks at most (<see cref="ForwardingEngineOptions.ConnectionCapacity"/>).</summary>
    public int ConnectionCapacity => _connections.Capacity;

    /// <summary>Every connection entry. Allocates: status views only.</summary>
    public IReadOnlyList<ConnectionEntryView> ListConnections() => _connections.Snapshot();

    /// <summary>Every persistence entry of a service. Allocates: status views only.</summary>
    public IReadOnlyList<PersistenceEntryView> ListPersistence(int serviceId)
        => _persistence.Get(serviceId)?.Snapshot() ?? [];

    /// <summary>Copies every counter into <paramref name="destination"/>; allocation-free unless capacities grew.</summary>
    public void CopyCountersTo(EngineCountersSnapshot destination)
    {
        _verdicts.CopyTo(destination.Verdicts, 0);
        _malformed.CopyTo(destination.MalformedReasons, 0);
        _events.CopyTo(destination.Events, 0);
        var events = destination.Events;
        events[(int)EngineEvent.ConnectionExpirations] = _connections.Expirations;
        events[(int)EngineEvent.ConnectionTableRejections] = _connections.Rejections;
        events[(int)EngineEvent.FragmentEvictions] = _fragments.Evictions;
        long expirations = _retiredPersistence[0], evictions = _retiredPersistence[1], rejections = _retiredPersistence[2];
        for (var id = 0; id < _counterServices; id++)
        {
            if (_persistence.Get(id) is { } table)
            {
                expirations += table.Expirations;
                evictions += table.Evictions;
                rejections += table.Rejections;
            }
        }

        events[(int)EngineEvent.PersistenceExpirations] += expirations;
        events[(int)EngineEvent.PersistenceEvictions] = evictions;
        events[(int)EngineEvent.PersistenceRejections] = rejections;
        if (destination.Members.Length != _members.Length)
        {
            destination.Members = new long[_members.Length];
        }

        _members.CopyTo(destination.Members, 0);
        destination.ServiceIdCapacity = _counterServices;
        destination.ServerIdCapacity = _counterServers;
        CopyTableCounts(destination);
    }

    /// <summary>
    /// The connection and persistence counts per (service, server), kept as entries come and go: a status read costs
    /// services × servers here instead of a scan of every table on the forwarding thread.
    /// </summary>
    private void CopyTableCounts(EngineCountersSnapshot destination)
    {
        var services = _counterServices;
        var servers = _counterServers;
        if (destination.MemberActive.Length != services * servers)
        {
            destination.MemberActive = new int[services * servers];
            destination.MemberInactive = new int[services * servers];
            destination.MemberPersistence = new int[services * servers];
        }

        if (destination.ServicePersistence.Length != services)
        {
            destination.ServicePersistence = new int[services];
        }

        var active = _connections.ActiveByMember;
        var inactive = _connections.InactiveByMember;
        var stride = _connections.MemberServerCapacity;
        var width = Math.Min(servers, stride);
        for (var service = 0; service < services; service++)
        {
            var row = destination.MemberActive.AsSpan(service * servers, servers);
            var inactiveRow = destination.MemberInactive.AsSpan(service * servers, servers);
            var persistenceRow = destination.MemberPersistence.AsSpan(service * servers, servers);
            row.Clear();
            inactiveRow.Clear();
            persistenceRow.Clear();
            if (service < _connections.MemberServiceCapacity)
            {
                active.Slice(service * stride, width).CopyTo(row);
                inactive.Slice(service * stride, width).CopyTo(inactiveRow);
            }

            var table = _persistence.Get(service);
            destination.ServicePersistence[service] = table?.Count ?? 0;
            if (table is not null)
            {
                var byServer = table.EntriesByServer;
                byServer[..Math.Min(servers, byServer.Length)].CopyTo(persistenceRow);
            }
        }
    }

    private ForwardVerdict Count(ForwardVerdict verdict)
    {
        _verdicts[(int)verdict]++;
        return verdict;
    }

    private ForwardVerdict Classify(RoutingSnapshot snapshot, Span<byte> frame, long nowNs, out ForwardDecision decision)
    {
        decision = default;
        if (!EthernetView.TryParse(frame, out var eth, out var malformed))
        {
            decision = new ForwardDecision(malformed);
            return ForwardVerdict.Malformed;
        }

        if (eth.Source == ApplianceMac || snapshot.IsServerMac(eth.Destination))
        {
            return ForwardVerdict.LoopGuard;
        }

        var l3 = eth.Payload;
        Packet packet;
        ReadOnlySpan<byte> upper;
        switch (eth.EtherType)
        {
            case EtherTypes.Arp:
                if (!ArpView.TryParse(l3, out var arp, out malformed))
                {
                    if (malformed == MalformedReason.None)
                    {
                        return ForwardVerdict.NotOurs;
                    }

                    decision = new ForwardDecision(malformed);
                    return ForwardVerdict.Malformed;
                }

                return arp.Operation == ArpView.OperationRequest && snapshot.IsVip(arp.TargetIp)
                    ? ForwardVerdict.ArpRequestForVip
                    : ForwardVerdict.NotOurs;
            case EtherTypes.IPv4:
                if (!IPv4View.TryParse(l3, out var v4, out malformed))
                {
                    decision = new ForwardDecision(malformed);
                    return ForwardVerdict.Malformed;
                }

                packet = new Packet(v4.Source, v4.Destination, v4.Protocol, v4.IsFragment, v4.HasTransportHeader, v4.MoreFragments, v4.Identification);
                upper = v4.Payload;
                break;
            case EtherTypes.IPv6:
                if (!IPv6View.TryParse(l3, out var v6, out malformed))
                {
                    decision = new ForwardDecision(malformed);
                    return ForwardVerdict.Malformed;
                }

                packet = new Packet(v6.Source, v6.Destination, v6.UpperLayerProtocol, v6.IsFragment, v6.HasTransportHeader, v6.MoreFragments, v6.FragmentIdentification);
                upper = v6.UpperLayer;
                break;
            default:
                return ForwardVerdict.NotOurs;
        }

        if (!ReadTransport(ref packet, upper, isV6: eth.EtherType == EtherTypes.IPv6, out malformed))
        {
            decision = new ForwardDecision(malformed);
            return ForwardVerdict.Malformed;
        }

        switch (packet.Protocol)
        {
            case IpProtocols.Icmp or IpProtocols.Icmpv6 when packet.HasTransport
                && IcmpTypes.IsFlowError(packet.IcmpType, packet.Protocol == IpProtocols.Icmpv6)
                && snapshot.IsVip(packet.Destination):
                return ForwardIcmpError(snapshot, frame, upper[IcmpView.HeaderLength..], packet.Protocol == IpProtocols.Icmpv6, nowNs, out decision);
            case IpProtocols.Icmp:
                return packet.IcmpType == IcmpTypes.EchoRequest && snapshot.IsVip(packet.Destination)
                    ? ForwardVerdict.EchoRequestForVip
                    : ForwardVerdict.NotOurs;
            case IpProtocols.Icmpv6:
                // A solicitation goes to the target's solicited-node multicast address, so look at the target.
                return packet.IcmpType switch
                {
                    IcmpTypes.V6EchoRequest when snapshot.IsVip(packet.Destination) => ForwardVerdict.EchoRequestForVip,
                    IcmpTypes.V6NeighborSolicitation when snapshot.IsVip(packet.NeighborTarget) => ForwardVerdict.NeighborSolicitationForVip,
                    _ => ForwardVerdict.NotOurs,
                };
            case IpProtocols.Tcp or IpProtocols.Udp:
                break;
            default:
                return ForwardVerdict.NotOurs;
        }

        if (!packet.HasTransport)
        {
            return ForwardFragment(snapshot, frame, in packet, nowNs, out decision);
        }

        if (!snapshot.TryFindService(packet.Destination, packet.Protocol, packet.DestinationPort, out var service))
        {
            return ForwardVerdict.NotOurs;
        }

        return ForwardFlow(snapshot, service!, frame, in packet, nowNs, out decision);
    }

    private ForwardVerdict ForwardFlow(RoutingSnapshot snapshot, ServiceRoute service, Span<byte> frame, in Packet packet, long nowNs, out ForwardDecision decision)
    {
        var key = new FlowKey(packet.Source, packet.Destination, packet.SourcePort, packet.DestinationPort, packet.Protocol);
        var isTcp = packet.Protocol == IpProtocols.Tcp;
        var redispatched = false;
        var connection = _connections.Find(key, nowNs);
        if (connection >= 0)
        {
            var serverId = _connections.ServerIdAt(connection);
            if (_connections.ServiceIdAt(connection) == service.Id
                && (service.GetDisposition(serverId) & MemberDisposition.KeepsConnections) != 0)
            {
                var state = isTcp ? TcpStateMachine.Next(_connections.StateAt(connection), packet.Flags) : ConnectionState.Udp;
                _connections.Update(connection, state, nowNs + service.TimeoutNs(state), nowNs);
                RecordFragmentIfFirst(in packet, service.Id, serverId, nowNs);
                decision = Decision(service, serverId, in packet, default, DecisionReason.ExistingFlow, false, false);
                return Forward(frame, service.Id, serverId);
            }

            // Its server is gone (removed, disabled, or down with shutdown-sessions): schedule the flow again.
            _connections.Remove(connection, nowNs);
            redispatched = true;
        }

        var persistenceKey = service.IsPersistent ? packet.Source.Mask(service.PersistencePrefixLength) : default;
        var isRst = (packet.Flags & TcpFlags.Rst) != 0;
        if (isTcp && (isRst || (!redispatched && (packet.Flags & TcpFlags.Syn) == 0)))
        {
            // A RST never creates state. Otherwise a flow first seen mid-stream follows the client's persistence
            // entry, else is scheduled only when sloppy; a re-dispatched flow is always scheduled again.
            if (isRst || (!service.Sloppy && !HasUsablePersistence(service, persistenceKey, nowNs)))
            {
                decision = new ForwardDecision(service.Id, packet.Source, packet.Destination, packet.DestinationPort);
                return ForwardVerdict.MidStreamNoState;
            }
        }

        var verdict = Schedule(service, packet.Source, persistenceKey, nowNs, out var server, out var reason, out var persistenceIndex, out var newPersistence);
        if (verdict != ForwardVerdict.Forwarded)
        {
            decision = new ForwardDecision(service.Id, packet.Source, packet.Destination, packet.DestinationPort);
            return verdict;
        }

        // Counted once per flow, also when its persistence entry was re-dispatched in Schedule as well.
        if (redispatched && reason != DecisionReason.Redispatched)
        {
            reason = DecisionReason.Redispatched;
            _events[(int)EngineEvent.Redispatches]++;
            _members[MemberIndex(service.Id, server) + (int)MemberCounter.Redispatches]++;
        }

        var initial = isTcp ? TcpStateMachine.Next(ConnectionState.None, packet.Flags) : ConnectionState.Udp;
        if (_connections.Add(key, service.Id, server, initial, nowNs + service.TimeoutNs(initial), persistenceIndex, nowNs) < 0)
        {
            decision = new ForwardDecision(service.Id, packet.Source, packet.Destination, packet.DestinationPort);
            return ForwardVerdict.ConnectionTableFull;
        }

        _events[(int)EngineEvent.NewConnections]++;
        _members[MemberIndex(service.Id, server) + (int)MemberCounter.NewConnections]++;
        RecordFragmentIfFirst(in packet, service.Id, server, nowNs);
        decision = Decision(service, server, in packet, persistenceKey, reason, true, newPersistence);
        return Forward(frame, service.Id, server);
    }

    /// <summary>
    /// Picks the server for a new connection: the client's usable persistence entry, else the scheduler, else the
    /// sorry server (unless disabled). Creates the persistence entry for a scheduled client of a persistent service.
    /// </summary>
    private ForwardVerdict Schedule(ServiceRoute service, IpAddress128 client, IpAddress128 persistenceKey, long nowNs, out int server, out DecisionReason reason, out int persistenceIndex, out bool newPersistence)
    {
        server = -1;
        reason = DecisionReason.New;
        persistenceIndex = -1;
        newPersistence = false;
        var table = service.IsPersistent ? _persistence.Get(service.Id) : null;
        if (table is not null)
        {
            var entry = table.Find(persistenceKey, nowNs);
            if (entry >= 0)
            {
                var persisted = table.ServerIdAt(entry);
                var disposition = service.GetDisposition(persisted);
                if ((disposition & MemberDisposition.KeepsPersistence) != 0)
                {
                    table.Touch(entry, nowNs);
                    server = persisted;
                    reason = DecisionReason.Persisted;
                    persistenceIndex = entry;
                    return ForwardVerdict.Forwarded;
                }

                table.Remove(entry);
                if ((disposition & MemberDisposition.ExpiresPersistence) != 0)
                {
                    // quiesce-expire: the entry simply expires; the client is scheduled like a new one.
                    _events[(int)EngineEvent.PersistenceExpirations]++;
                }
                else
                {
                    reason = DecisionReason.Redispatched;
                    _events[(int)EngineEvent.Redispatches]++;
                }
            }
        }

        // sh / mh hash the persistence key when there is one, so a whole client prefix hashes alike.
        ref var cursor = ref _cursors[service.Id];
        var hashed = service.IsPersistent ? persistenceKey : client;
        server = service.Scheduler.Select(service, new SchedulingInput(hashed, _connections.ActiveByServer, _connections.InactiveByServer), ref cursor);
        if (server < 0)
        {
            if (service.SorryServerId < 0 || service.SorryServerDisabled)
            {
                return ForwardVerdict.NoServer;
            }

            // No persistence entry for the sorry server: clients return to real servers as soon as one is usable.
            server = service.SorryServerId;
            reason = DecisionReason.Sorry;
            _events[(int)EngineEvent.SorryForwards]++;
            return ForwardVerdict.Forwarded;
        }

        if (reason == DecisionReason.Redispatched)
        {
            _members[MemberIndex(service.Id, server) + (int)MemberCounter.Redispatches]++;
        }

        if (table is not null)
        {
            persistenceIndex = table.Add(persistenceKey, server, nowNs);
            if (persistenceIndex >= 0)
            {
                newPersistence = true;
                _events[(int)EngineEvent.NewPersistenceEntries]++;
                _members[MemberIndex(service.Id, server) + (int)MemberCounter.NewPersistenceEntries]++;
            }
        }

        return ForwardVerdict.Forwarded;
    }

    private bool HasUsablePersistence(ServiceRoute service, IpAddress128 persistenceKey, long nowNs)
    {
        var table = service.IsPersistent ? _persistence.Get(service.Id) : null;
        if (table is null)
        {
            return false;
        }

        var entry = table.Find(persistenceKey, nowNs);
        return entry >= 0 && (service.GetDisposition(table.ServerIdAt(entry)) & MemberDisposition.KeepsPersistence) != 0;
    }

    /// <summary>A non-first fragment: follow the first fragment's server, else the client's persistence entry.</summary>
    private ForwardVerdict ForwardFragment(RoutingSnapshot snapshot, Span<byte> frame, in Packet packet, long nowNs, out ForwardDecision decision)
    {
        if (_fragments.TryFind(packet.Source, packet.Destination, packet.Protocol, packet.FragmentId, nowNs, out var serviceId, out var serverId)
            && snapshot.GetService(serviceId) is { } service
            && (service.GetDisposition(serverId) & MemberDisposition.KeepsConnections) != 0)
        {
            _events[(int)EngineEvent.FragmentsFollowed]++;
            decision = Decision(service, serverId, in packet, default, DecisionReason.ExistingFlow, false, false);
            return Forward(frame, service.Id, serverId);
        }

        var isVip = false;
        foreach (var id in snapshot.ServicesOnVip(packet.Destination))
        {
            isVip = true;
            var candidate = snapshot.GetService(id)!;
            if ((byte)candidate.Protocol != packet.Protocol || !candidate.IsPersistent || _persistence.Get(id) is not { } table)
            {
                continue;
            }

            var key = packet.Source.Mask(candidate.PersistencePrefixLength);
            var entry = table.Find(key, nowNs);
            if (entry >= 0 && (candidate.GetDisposition(table.ServerIdAt(entry)) & MemberDisposition.KeepsPersistence) != 0)
            {
                var server = table.ServerIdAt(entry);
                decision = Decision(candidate, server, in packet, key, DecisionReason.Persisted, false, false);
                return Forward(frame, id, server);
            }
        }

        decision = default;
        return isVip ? ForwardVerdict.FragmentNoState : ForwardVerdict.NotOurs;
    }

    /// <summary>
    /// An ICMP error to a VIP (fragmentation needed, packet too big, unreachable, time exceeded). The server answered
    /// the client from the VIP, so the router that could not deliver the reply writes to the VIP, quoting it:
    /// VIP:port → client:port. Like LVS, pass the error unchanged to the server that owns the quoted flow, or else to
    /// the client's persisted server, so its PMTU discovery works; never create state for it.
    /// </summary>
    private ForwardVerdict ForwardIcmpError(RoutingSnapshot snapshot, Span<byte> frame, ReadOnlySpan<byte> quoted, bool isV6, long nowNs, out ForwardDecision decision)
    {
        decision = default;
        if (!IcmpQuoteView.TryParse(quoted, isV6, out var quote, out var malformed))
        {
            decision = new ForwardDecision(malformed);
            return ForwardVerdict.Malformed;
        }

        if (quote.Protocol is not (IpProtocols.Tcp or IpProtocols.Udp))
        {
            // About something the appliance itself sent from the VIP (an echo reply, say): nothing to pass on.
            return ForwardVerdict.NotOurs;
        }

        if (!quote.HasPorts)
        {
            // A quoted non-first fragment carries no ports, so the flow cannot be told.
            return ForwardVerdict.IcmpErrorNoState;
        }

        // The quote is the reply: its source is the VIP side, its destination the client.
        var vip = quote.Source;
        var client = quote.Destination;
        if (!snapshot.TryFindService(vip, quote.Protocol, quote.SourcePort, out var found))
        {
            return ForwardVerdict.NotOurs;
        }

        var service = found!;
        int serverId;
        var persistenceKey = service.IsPersistent ? client.Mask(service.PersistencePrefixLength) : default;
        var connection = _connections.Find(new FlowKey(client, vip, quote.DestinationPort, quote.SourcePort, quote.Protocol), nowNs);
        if (connection >= 0
            && _connections.ServiceIdAt(connection) == service.Id
            && (service.GetDisposition(_connections.ServerIdAt(connection)) & MemberDisposition.KeepsConnections) != 0)
        {
            serverId = _connections.ServerIdAt(connection);
        }
        else if (service.IsPersistent && _persistence.Get(service.Id) is { } table
            && PersistedServer(service, table, persistenceKey, nowNs) is var persisted and >= 0)
        {
            // Not touched: an error is no client activity and must not keep the entry alive.
            serverId = persisted;
        }
        else
        {
            decision = new ForwardDecision(service.Id, client, vip, quote.SourcePort);
            return ForwardVerdict.IcmpErrorNoState;
        }

        _events[(int)EngineEvent.IcmpErrorsForwarded]++;
        decision = new ForwardDecision(service.Id, serverId, client, quote.DestinationPort, vip, quote.SourcePort, service.Protocol, persistenceKey, DecisionReason.IcmpError, false, false);
        return Forward(frame, service.Id, serverId);
    }

    /// <summary>The server of the client's usable persistence entry, or -1.</summary>
    private static int PersistedServer(ServiceRoute service, PersistenceTable table, in IpAddress128 persistenceKey, long nowNs)
    {
        var entry = table.Find(persistenceKey, nowNs);
        return entry >= 0 && (service.GetDisposition(table.ServerIdAt(entry)) & MemberDisposition.KeepsPersistence) != 0
            ? table.ServerIdAt(entry)
            : -1;
    }

    private void RecordFragmentIfFirst(in Packet packet, int serviceId, int serverId, long nowNs)
    {
        if (packet.IsFragment)
        {
            _fragments.Record(packet.Source, packet.Destination, packet.Protocol, packet.FragmentId, serviceId, serverId, nowNs);
        }
    }

    /// <summary>Rewrites the frame's Ethernet destination to the server and its source to the appliance, and counts it.</summary>
    private ForwardVerdict Forward(Span<byte> frame, int serviceId, int serverId)
    {
        ref readonly var rewrite = ref _rewrites[serverId];
        MemoryMarshal.Write(frame, in rewrite.Head);
        MemoryMarshal.Write(frame[sizeof(ulong)..], in rewrite.Tail);
        var member = MemberIndex(serviceId, serverId);
        _members[member + (int)MemberCounter.Frames]++;
        _members[member + (int)MemberCounter.Bytes] += frame.Length;
        return ForwardVerdict.Forwarded;
    }

    private static ForwardDecision Decision(ServiceRoute service, int serverId, in Packet packet, IpAddress128 persistenceKey, DecisionReason reason, bool newConnection, bool newPersistence)
        => new(service.Id, serverId, packet.Source, packet.SourcePort, packet.Destination, packet.DestinationPort, service.Protocol, persistenceKey, reason, newConnection, newPersistence);

    private int MemberIndex(int serviceId, int serverId) => ((serviceId * _counterServers) + serverId) * EngineCountersSnapshot.MemberCounterCount;

    private static bool ReadTransport(ref Packet packet, ReadOnlySpan<byte> upper, bool isV6, out MalformedReason malformed)
    {
        malformed = MalformedReason.None;
        if (!packet.HasTransport)
        {
            return true;
        }

        switch (packet.Protocol)
        {
            case IpProtocols.Tcp:
                if (!TcpView.TryParse(upper, out var tcp, out malformed))
                {
                    return false;
                }

                packet.SourcePort = tcp.SourcePort;
                packet.DestinationPort = tcp.DestinationPort;
                packet.Flags = tcp.Flags;
                return true;
            case IpProtocols.Udp:
                if (!UdpView.TryParse(upper, packet.IsFragment, out var udp, out malformed))
                {
                    return false;
                }

                packet.SourcePort = udp.SourcePort;
                packet.DestinationPort = udp.DestinationPort;
                return true;
            case IpProtocols.Icmp when !isV6:
            case IpProtocols.Icmpv6 when isV6:
                if (!IcmpView.TryParse(upper, isV6, out var icmp, out malformed))
                {
                    return false;
                }

                packet.IcmpType = icmp.Type;
                if (isV6 && icmp.Type == IcmpTypes.V6NeighborSolicitation)
                {
                    packet.NeighborTarget = icmp.NeighborTarget;
                }

                return true;
            default:
                return true;
        }
    }

    /// <summary>Adopts a newly published snapshot on the forwarding thread: the only place the engine allocates.</summary>
    private void Adopt(RoutingSnapshot snapshot)
    {
        _current = snapshot;
        _knownFlowPathOpen = !snapshot.IsServerMac(ApplianceMac);
        _rewrites = AddressRewrite.For(snapshot, ApplianceMac);
        _events[(int)EngineEvent.SnapshotsAdopted]++;
        GrowMemberCounters(snapshot.ServiceIdCapacity, snapshot.ServerIdCapacity);
        _connections.EnsureMemberCapacity(_counterServices, _counterServers);

        // Candidate lists may have changed under the rr/wrr positions; start them over.
        _cursors = new SchedulerCursor[snapshot.ServiceIdCapacity];

        for (var id = 0; id < snapshot.ServiceIdCapacity; id++)
        {
            var service = snapshot.GetService(id);
            var table = _persistence.Get(id);
            if (service is { IsPersistent: true })
            {
                if (table is not null && table.Capacity == service.PersistenceTableSize)
                {
                    table.TimeoutNs = service.PersistenceTimeoutNs;
                    table.EnsureServerCapacity(_counterServers);
                    continue;
                }

                RetirePersistence(id, table);
                _persistence.Set(id, new PersistenceTable(service.PersistenceTableSize, service.PersistenceTimeoutNs, _counterServers, _options.TableHashSeed));
            }
            else if (table is not null)
            {
                RetirePersistence(id, table);
                _persistence.Set(id, null);
            }
        }
    }

    private void RetirePersistence(int serviceId, PersistenceTable? table)
    {
        if (table is null)
        {
            return;
        }

        _retiredPersistence[0] += table.Expirations;
        _retiredPersistence[1] += table.Evictions;
        _retiredPersistence[2] += table.Rejections;
        _connections.DetachPersistence(serviceId);
    }

    private void GrowMemberCounters(int services, int servers)
    {
        services = Math.Max(services, _counterServices);
        servers = Math.Max(servers, _counterServers);
        if (services == _counterServices && servers == _counterServers)
        {
            return;
        }

        var stride = EngineCountersSnapshot.MemberCounterCount;
        var grown = new long[services * servers * stride];
        for (var service = 0; service < _counterServices; service++)
        {
            Array.Copy(_members, service * _counterServers * stride, grown, service * servers * stride, _counterServers * stride);
        }

        _members = grown;
        _counterServices = services;
        _counterServers = servers;
    }

    /// <summary>
    /// What a sweep may examine on this call: its budget, or after a quiet spell one unit per
    /// <see cref="QuietNsPerSweptUnit"/> of it, up to <paramref name="maxFactor"/> budgets
    /// (<see cref="ForwardingEngineOptions.SweepAfterQuietGaps"/>; without it the spell counts as none).
    /// </summary>
    private static int SweepAllowance(int budget, long quietNs, int maxFactor)
        => (int)Math.Clamp(quietNs / QuietNsPerSweptUnit, budget, (long)budget * maxFactor);

    /// <summary>
    /// The persistent services' tables take turns; each is swept in index order at the pace of its capacity per sweep
    /// interval (at most <paramref name="budget"/> entries a call).
    /// </summary>
    private void SweepPersistence(RoutingSnapshot snapshot, long nowNs, int budget)
    {
        if (snapshot.ServiceIdCapacity == 0)
        {
            return;
        }

        var table = _persistence.Get(_persistenceSweepService);
        var due = _persistencePacer.Due(nowNs, _sweepIntervalNs, table?.Capacity ?? 0, budget);
        if (table is null || due > 0)
        {
            table?.Sweep(nowNs, due);
            _persistenceSweepService = _persistenceSweepService + 1 >= snapshot.ServiceIdCapacity ? 0 : _persistenceSweepService + 1;
        }
    }

    /// <summary>
    /// A forwarded frame's new Ethernet destination (the server) and source (the appliance), its first twelve bytes,
    /// as one 8-byte and one 4-byte store in the frame's byte order.
    /// </summary>
    private readonly struct AddressRewrite(ulong head, uint tail)
    {
        public readonly ulong Head = head;
        public readonly uint Tail = tail;

        public static AddressRewrite[] For(RoutingSnapshot snapshot, MacAddress appliance)
        {
            var rewrites = new AddressRewrite[snapshot.ServerIdCapacity];
            Span<byte> addresses = stackalloc byte[2 * MacAddress.Length];
            appliance.WriteTo(addresses[MacAddress.Length..]);
            for (var id = 0; id < rewrites.Length; id++)
            {
                snapshot.GetServerMac(id).WriteTo(addresses);
                rewrites[id] = new AddressRewrite(MemoryMarshal.Read<ulong>(addresses), MemoryMarshal.Read<uint>(addresses[sizeof(ulong)..]));
            }

            return rewrites;
        }
    }

    /// <summary>
    /// A frame of a batch as the first pass read it: its flow (if it has the common shape) in the form of its family's
    /// slots, and its home slot among them.
    /// </summary>
    private struct BatchFlow
    {
        public IPv4Flow IPv4;
        public FlowKey Key;
        public int Home;
        public int Probe;
        public TcpFlags Flags;
        public FlowShape Shape;
    }

    /// <summary>The fields of one frame the decision needs, gathered from the views.</summary>
    private struct Packet
    {
        public IpAddress128 Source;
        public IpAddress128 Destination;
        public IpAddress128 NeighborTarget;
        public uint FragmentId;
        public ushort SourcePort;
        public ushort DestinationPort;
        public byte Protocol;
        public TcpFlags Flags;
        public byte IcmpType;
        public bool IsFragment;
        public bool HasTransport;
        public bool MoreFragments;

        public Packet(IpAddress128 source, IpAddress128 destination, byte protocol, bool isFragment, bool hasTransport, bool moreFragments, uint fragmentId)
        {
            Source = source;
            Destination = destination;
            Protocol = protocol;
            IsFragment = isFragment;
            HasTransport = hasTransport;
            MoreFragments = moreFragments;
            FragmentId = fragmentId;
        }
    }
}
