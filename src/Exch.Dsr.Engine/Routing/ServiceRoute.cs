using System.Collections.Immutable;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Scheduling;

namespace Exch.Dsr.Engine.Routing;

/// <summary>What a service lets a server keep, precomputed per server id from membership, state and on-down.</summary>
[Flags]
public enum MemberDisposition : byte
{
    None = 0,

    /// <summary>Configured as a member of the service.</summary>
    Member = 1,

    /// <summary>Takes new clients: Up with weight &gt; 0.</summary>
    Schedulable = 2,

    /// <summary>Existing connections stay on it.</summary>
    KeepsConnections = 4,

    /// <summary>Persistent clients keep returning to it.</summary>
    KeepsPersistence = 8,

    /// <summary>Its persistence entries expire when next used (Down with quiesce-expire).</summary>
    ExpiresPersistence = 16,
}

/// <summary>A member as the status view shows it.</summary>
public sealed record MemberView(int ServerId, string Server, int Weight, ServerState State, MemberDisposition Disposition);

/// <summary>
/// One virtual service inside a <see cref="RoutingSnapshot"/>, with everything the packet path needs precomputed.
/// Immutable: a health or configuration change builds a new snapshot.
/// </summary>
public sealed class ServiceRoute
{
    private readonly int[] _candidates;
    private readonly int[] _candidateWeights;
    private readonly int[]? _lookupTable;
    private readonly long[] _timeoutNs;
    private readonly MemberDisposition[] _dispositionByServer;
    private readonly ushort[] _ports;

    internal ServiceRoute(
        int id,
        VirtualService definition,
        IScheduler scheduler,
        int[] candidates,
        int[] candidateWeights,
        int[]? lookupTable,
        MemberDisposition[] dispositionByServer,
        int sorryServerId,
        bool sorryServerDisabled,
        ImmutableArray<MemberView> members)
    {
        Id = id;
        Definition = definition;
        Name = definition.Name;
        Vip = IpAddress128.FromIPAddress(definition.Vip);
        Protocol = definition.Protocol;
        _ports = [.. definition.Ports];
        Scheduler = scheduler;
        IsPersistent = definition.PersistenceTimeout is { } timeout && timeout > TimeSpan.Zero;
        PersistenceTimeoutNs = IsPersistent ? (long)(definition.PersistenceTimeout!.Value.Ticks * 100) : 0;
        PersistencePrefixLength = definition.PersistencePrefixLength ?? (Vip.IsIPv4 ? 32 : 128);
        _candidates = candidates;
        _candidateWeights = candidateWeights;
        _lookupTable = lookupTable;
        _dispositionByServer = dispositionByServer;
        SorryServerId = sorryServerId;
        SorryServerDisabled = sorryServerDisabled;
        Members = members;

        var gcd = 0;
        var max = 0;
        foreach (var w in candidateWeights)
        {
            gcd = Gcd(gcd, w);
            max = Math.Max(max, w);
        }

        WeightGcd = Math.Max(gcd, 1);
        MaxWeight = max;

        _timeoutNs = new long[(int)ConnectionState.Udp + 1];
        for (var s = 0; s < _timeoutNs.Length; s++)
        {
            _timeoutNs[s] = definition.Timeouts.For((ConnectionState)s).Ticks * 100;
        }
    }

    /// <summary>Stable id: the same service name keeps its id across snapshots built by one builder.</summary>
    public int Id { get; }

    public string Name { get; }

    public VirtualService Definition { get; }

    public IpAddress128 Vip { get; }

    public TransportProtocol Protocol { get; }

    public IReadOnlyList<ushort> Ports => Definition.Ports;

    public IScheduler Scheduler { get; }

    public bool IsPersistent { get; }

    public long PersistenceTimeoutNs { get; }

    /// <summary>In the VIP's family: 0-32 for IPv4, 0-128 for IPv6.</summary>
    public int PersistencePrefixLength { get; }

    public int PersistenceTableSize => Definition.PersistenceTableSize;

    public OnDownBehavior OnDown => Definition.OnDown;

    public bool Sloppy => Definition.Sloppy;

    /// <summary>Server id of the sorry server, or -1.</summary>
    public int SorryServerId { get; }

    /// <summary>The sorry server is Disabled in this service (server-wide or for this service alone): not used.</summary>
    public bool SorryServerDisabled { get; }

    /// <summary>Server ids that take new clients, in configuration order.</summary>
    public ReadOnlySpan<int> Candidates => _candidates;

    /// <summary>Effective weights of <see cref="Candidates"/>, all &gt; 0.</summary>
    public ReadOnlySpan<int> CandidateWeights => _candidateWeights;

    public int WeightGcd { get; }

    public int MaxWeight { get; }

    /// <summary>The sh / mh table of server ids; empty for other schedulers.</summary>
    public ReadOnlySpan<int> LookupTable => _lookupTable;

    public ImmutableArray<MemberView> Members { get; }

    /// <summary>True when this service is the one for <paramref name="vip"/>, <paramref name="protocol"/> and <paramref name="port"/>.</summary>
    public bool Serves(in IpAddress128 vip, byte protocol, ushort port)
    {
        if ((byte)Protocol != protocol || Vip != vip)
        {
            return false;
        }

        foreach (var served in _ports)
        {
            if (served == port)
            {
                return true;
            }
        }

        return false;
    }

    public long TimeoutNs(ConnectionState state) => _timeoutNs[(int)state];

    public MemberDisposition GetDisposition(int serverId)
        => (uint)serverId < (uint)_dispositionByServer.Length ? _dispositionByServer[serverId] : MemberDisposition.None;

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }
}
