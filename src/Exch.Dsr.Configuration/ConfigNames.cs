using System.Collections.Frozen;

namespace Exch.Dsr.Configuration;

/// <summary>The words a configuration file uses for each enum value, both ways, so messages and summaries match the file.</summary>
public static class ConfigNames
{
    internal static readonly FrozenDictionary<string, CaptureBackend> Backends = Map(
        ("pcap", CaptureBackend.Pcap), ("ring", CaptureBackend.Ring));

    internal static readonly FrozenDictionary<string, RingReceive> RingReceives = Map(
        ("frame", RingReceive.Frame), ("block", RingReceive.Block));

    internal static readonly FrozenDictionary<string, TransportProtocol> Protocols = Map(
        ("tcp", TransportProtocol.Tcp), ("udp", TransportProtocol.Udp));

    internal static readonly FrozenDictionary<string, SchedulerKind> Schedulers = Map(
        ("rr", SchedulerKind.RoundRobin),
        ("wrr", SchedulerKind.WeightedRoundRobin),
        ("lc", SchedulerKind.LeastConnection),
        ("wlc", SchedulerKind.WeightedLeastConnection),
        ("sh", SchedulerKind.SourceHash),
        ("mh", SchedulerKind.MaglevHash));

    internal static readonly FrozenDictionary<string, OnDownAction> OnDownActions = Map(
        ("quiesce", OnDownAction.Quiesce),
        ("quiesce-expire", OnDownAction.QuiesceExpire),
        ("shutdown-sessions", OnDownAction.ShutdownSessions));

    internal static readonly FrozenDictionary<string, HealthCheckKind> CheckKinds = Map(
        ("none", HealthCheckKind.None),
        ("tcp", HealthCheckKind.Tcp),
        ("send-expect", HealthCheckKind.SendExpect),
        ("http", HealthCheckKind.Http),
        ("https", HealthCheckKind.Https),
        ("smtp", HealthCheckKind.Smtp),
        ("exec", HealthCheckKind.Exec));

    public static string ToConfigName(this CaptureBackend value) => NameOf(Backends, value);

    public static string ToConfigName(this RingReceive value) => NameOf(RingReceives, value);

    public static string ToConfigName(this TransportProtocol value) => NameOf(Protocols, value);

    public static string ToConfigName(this SchedulerKind value) => NameOf(Schedulers, value);

    public static string ToConfigName(this OnDownAction value) => NameOf(OnDownActions, value);

    public static string ToConfigName(this HealthCheckKind value) => NameOf(CheckKinds, value);

    /// <summary>"rr, wrr, lc" in declaration order, for "is not one of" messages.</summary>
    internal static string List<T>(FrozenDictionary<string, T> names)
        where T : struct, Enum
        => string.Join(", ", names.OrderBy(p => p.Value).Select(p => p.Key));

    private static string NameOf<T>(FrozenDictionary<string, T> names, T value)
        where T : struct, Enum
        => names.First(p => EqualityComparer<T>.Default.Equals(p.Value, value)).Key;

    private static FrozenDictionary<string, T> Map<T>(params (string Name, T Value)[] pairs)
        => pairs.ToFrozenDictionary(p => p.Name, p => p.Value, StringComparer.Ordinal);
}
