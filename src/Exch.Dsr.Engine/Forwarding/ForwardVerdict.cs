using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Forwarding;

/// <summary>What the engine did with a frame. Values index the verdict counters, so keep them dense.</summary>
public enum ForwardVerdict : byte
{
    /// <summary>Ethernet addresses rewritten in place; transmit the frame.</summary>
    Forwarded,

    /// <summary>Not for a configured service (or no snapshot published yet).</summary>
    NotOurs,

    /// <summary>Unreadable; <see cref="ForwardDecision.Malformed"/> says why.</summary>
    Malformed,

    /// <summary>Sent by us, or already addressed to a real server: forwarding it again would loop.</summary>
    LoopGuard,

    /// <summary>For a service with no usable member and no sorry server.</summary>
    NoServer,

    /// <summary>A TCP segment of an unknown flow without SYN, no persistence entry, service not sloppy.</summary>
    MidStreamNoState,

    /// <summary>A non-first fragment whose first fragment was not seen and whose client has no persistence entry.</summary>
    FragmentNoState,

    /// <summary>A new flow refused because the connection table is full of live connections.</summary>
    ConnectionTableFull,

    /// <summary>An ARP request for a VIP (to be answered by the data plane).</summary>
    ArpRequestForVip,

    /// <summary>An ICMP / ICMPv6 echo request to a VIP.</summary>
    EchoRequestForVip,

    /// <summary>An ICMPv6 neighbour solicitation for a VIP.</summary>
    NeighborSolicitationForVip,

    /// <summary>
    /// An ICMP / ICMPv6 error to a VIP quoting a reply of a configured service whose flow has no connection and whose
    /// client has no usable persistence entry: nobody to pass it to.
    /// </summary>
    IcmpErrorNoState,
}

/// <summary>Why a forwarded frame went to its server.</summary>
public enum DecisionReason : byte
{
    None,

    /// <summary>The flow (or the datagram of a non-first fragment) already had a server.</summary>
    ExistingFlow,

    /// <summary>Scheduled: a new client or a persistence entry that had expired.</summary>
    New,

    /// <summary>Followed the client's persistence entry.</summary>
    Persisted,

    /// <summary>Its flow or persistence entry pointed at a server no longer usable; scheduled again.</summary>
    Redispatched,

    /// <summary>No member was usable; sent to the sorry server.</summary>
    Sorry,

    /// <summary>
    /// An ICMP / ICMPv6 error (fragmentation needed, packet too big, unreachable, time exceeded) quoting a reply of
    /// the flow, passed unchanged to the flow's server (or the client's persisted server). Creates no state, so it is
    /// not an <see cref="ForwardDecision.IsDecision"/>.
    /// </summary>
    IcmpError,
}

/// <summary>
/// The details behind a verdict, for decision logs and diagnostics. Ids refer to the snapshot current at the time
/// (<see cref="ForwardingEngine.Current"/>); server and service ids are stable across snapshots of one builder.
/// </summary>
public readonly struct ForwardDecision
{
    // Stored plus one so that default(ForwardDecision), returned with verdicts that involve no service, reads -1.
    private readonly int _serviceIdPlusOne;
    private readonly int _serverIdPlusOne;

    internal ForwardDecision(
        int serviceId,
        int serverId,
        IpAddress128 client,
        ushort clientPort,
        IpAddress128 destination,
        ushort destinationPort,
        TransportProtocol protocol,
        IpAddress128 persistenceKey,
        DecisionReason reason,
        bool newConnection,
        bool newPersistence)
    {
        _serviceIdPlusOne = serviceId + 1;
        _serverIdPlusOne = serverId + 1;
        Client = client;
        ClientPort = clientPort;
        Destination = destination;
        DestinationPort = destinationPort;
        Protocol = protocol;
        PersistenceKey = persistenceKey;
        Reason = reason;
        NewConnection = newConnection;
        NewPersistence = newPersistence;
    }

    internal ForwardDecision(MalformedReason malformed) => Malformed = malformed;

    internal ForwardDecision(int serviceId, IpAddress128 client, IpAddress128 destination, ushort destinationPort)
    {
        _serviceIdPlusOne = serviceId + 1;
        Client = client;
        Destination = destination;
        DestinationPort = destinationPort;
    }

    /// <summary>The service, or -1.</summary>
    public int ServiceId => _serviceIdPlusOne - 1;

    /// <summary>The server the frame went to, or -1.</summary>
    public int ServerId => _serverIdPlusOne - 1;

    public IpAddress128 Client { get; }

    public ushort ClientPort { get; }

    /// <summary>The VIP (or other destination address).</summary>
    public IpAddress128 Destination { get; }

    /// <summary>0 for a non-first fragment, which carries no ports.</summary>
    public ushort DestinationPort { get; }

    public TransportProtocol Protocol { get; }

    /// <summary>The masked client address the persistence entry is keyed by (default when not persistent).</summary>
    public IpAddress128 PersistenceKey { get; }

    public DecisionReason Reason { get; }

    /// <summary>A connection entry was created for this frame.</summary>
    public bool NewConnection { get; }

    /// <summary>A persistence entry was created for this frame.</summary>
    public bool NewPersistence { get; }

    public MalformedReason Malformed { get; }

    /// <summary>Worth a decision-log line: a new flow or a persistence decision.</summary>
    public bool IsDecision => NewConnection || NewPersistence;
}
