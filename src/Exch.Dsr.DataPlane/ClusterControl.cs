using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Exch.Dsr.Configuration;
using Exch.Dsr.Control;
using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Tables;
using Exch.Dsr.Health;
using Microsoft.Extensions.Logging;

namespace Exch.Dsr.DataPlane;

/// <summary>The outcome of reading a configuration file for a reload: the configuration, or every error (file:line:column).</summary>
public sealed record ConfigurationLoad(ExchDsrConfig? Config, IReadOnlyList<string> Errors)
{
    /// <summary>Loads <paramref name="path"/> with its <c>EXCHDSR_</c> environment overrides, as <c>run</c> does.</summary>
    public static ConfigurationLoad FromFile(string path)
    {
        if (Directory.Exists(path))
        {
            return new(null, [$"'{path}' is a directory; the configuration file itself is needed"]);
        }

        if (!File.Exists(path))
        {
            return new(null, [$"configuration file '{path}' not found"]);
        }

        var result = ExchDsrConfigLoader.LoadWithEnvironment(path);
        return result.Succeeded ? new(result.Config, []) : new(null, [.. result.Errors.Select(e => e.ToString())]);
    }
}

/// <summary>
/// <see cref="IClusterControl"/> over the live data plane: changes go through <see cref="ClusterState"/> (the one
/// publisher); table reads run on each forwarding thread between two batches and are summed over the threads.
/// </summary>
/// <remarks>
/// Rates come from a sampler that copies the engines' per-member counters every second and keeps about 3 s of
/// samples; a status read compares its own counters with the sample about 2 s older. Reading the status scans each
/// engine's connection table once (per-member active and inactive counts), which delays that thread's next batch by
/// the scan; it is meant for an operator's command, not for polling many times a second.
/// </remarks>
public sealed class ClusterControl : IClusterControl, IAsyncDisposable
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(2);
    private static readonly double NanosecondsPerTick = 1e9 / Stopwatch.Frequency;

    private readonly ClusterState _cluster;
    private readonly IReadOnlyList<IForwardingThread> _threads;
    private readonly Func<DataPlaneStatus> _totals;
    private readonly Func<ConfigurationLoad> _load;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _samplesLock = new();
    private readonly Queue<Sample> _samples = new();
    private Task? _sampler;

    internal ClusterControl(
        ClusterState cluster,
        IReadOnlyList<IForwardingThread> threads,
        Func<DataPlaneStatus> totals,
        string configFile,
        Func<ConfigurationLoad> load,
        ILogger logger)
    {
        _cluster = cluster;
        _threads = threads;
        _totals = totals;
        ConfigFile = configFile;
        _load = load;
        _logger = logger;
        StartedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>The file a reload reads.</summary>
    public string ConfigFile { get; }

    public DateTimeOffset StartedAt { get; }

    /// <summary>Starts the rate sampler.</summary>
    public void Start() => _sampler ??= SampleAsync(_stop.Token);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_sampler is not null)
        {
            await _sampler.ConfigureAwait(false);
        }

        _stop.Dispose();
        _reloading.Dispose();
    }

    public async Task<ClusterStatus> ReadStatusAsync(CancellationToken cancellationToken)
    {
        var snapshot = _cluster.Published;
        var config = _cluster.Config;
        var reads = await Task.WhenAll(_threads.Select(t => t.InvokeAsync(TableRead.From))).WaitAsync(cancellationToken).ConfigureAwait(false);
        var now = Stopwatch.GetTimestamp();
        var baseline = Baseline(now);
        double seconds = baseline is null ? 0 : Stopwatch.GetElapsedTime(baseline.Timestamp, now).TotalSeconds;

        var services = new List<ServiceStatus>(config.Services.Count);
        foreach (var service in config.Services)
        {
            var route = snapshot?.Services.FirstOrDefault(r => r.Name == service.Name);
            var members = new List<MemberStatus>(service.Members.Count);
            foreach (var member in service.Members)
            {
                var name = member.Server.Name;
                var view = route?.Members.FirstOrDefault(m => m.Server == name);
                var server = snapshot?.Servers.FirstOrDefault(s => s.Name == name);
                var key = (route?.Id ?? -1, view?.ServerId ?? -1);
                var health = service.Check.Kind == HealthCheckKind.None ? null : _cluster.HealthOf(service.Name, name);
                long packets = reads.Sum(r => r.Counter(key, MemberCounter.Frames));
                long bytes = reads.Sum(r => r.Counter(key, MemberCounter.Bytes));
                var before = baseline?.Members.GetValueOrDefault(key) ?? default;
                members.Add(new MemberStatus(
                    name,
                    member.Server.Address.ToString(),
                    server?.Mac.ToString(),
                    view is null ? "unresolved" : view.State.ToString().ToLowerInvariant(),
                    health is null ? null : health.State.ToString().ToLowerInvariant(),
                    health?.LastReason,
                    view is not null && (view.Disposition & MemberDisposition.Schedulable) != 0 ? view.Weight : 0,
                    reads.Sum(r => r.Active(key)),
                    reads.Sum(r => r.Inactive(key)),
                    reads.Sum(r => r.Persistence(key)),
                    packets,
                    bytes,
                    seconds > 0 ? Math.Max(0, packets - before.Packets) / seconds : 0,
                    seconds > 0 ? Math.Max(0, bytes - before.Bytes) * 8 / seconds : 0));
            }

            services.Add(new ServiceStatus(
                service.Name,
                service.Protocol.ToConfigName(),
                service.Vip.ToString(),
                string.Join(',', service.Ports),
                service.Scheduler.ToConfigName(),
                service.Persistence?.Timeout,
                route is null ? 0 : reads.Sum(r => r.Persistence(route.Id)),
                members));
        }

        var totals = _totals();
        return new ClusterStatus(
            config.Appliance.Interface,
            config.Appliance.Backend.ToConfigName(),
            ConfigFile,
            _cluster.ConfigLoadedAt,
            StartedAt,
            services,
            new DataPlaneTotals(totals.Forwarded, totals.Dropped, totals.Answered, totals.NotOurs, totals.KernelDropped, totals.SendFailures, totals.Connections)
            {
                ConnectionCapacity = totals.ConnectionCapacity,
            });
    }

    /// <exception cref="ArgumentException">The filter names an unknown service or server, or its client is not an address or CIDR prefix.</exception>
    public async Task<IReadOnlyList<ConnectionRow>> ListConnectionsAsync(TableFilter filter, CancellationToken cancellationToken)
    {
        var match = RowFilter.Create(filter, _cluster.Config);
        var snapshot = _cluster.Published;
        var lists = await Task.WhenAll(_threads.Select(t => t.InvokeAsync(e => e.ListConnections()))).WaitAsync(cancellationToken).ConfigureAwait(false);
        long now = EngineNow();
        var names = new Names(snapshot);
        return lists.SelectMany(l => l)
            .Select(c => (Entry: c, Service: names.Service(c.ServiceId), Server: names.Server(c.ServerId)))
            .Where(c => match.Matches(c.Service, c.Server, c.Entry.Key.Client, prefixLength: null))
            .OrderBy(c => c.Service, StringComparer.Ordinal)
            .ThenBy(c => c.Entry.Key.Client.High).ThenBy(c => c.Entry.Key.Client.Low).ThenBy(c => c.Entry.Key.ClientPort)
            .Take(Math.Max(0, filter.Limit))
            .Select(c => new ConnectionRow(
                c.Entry.Key.Protocol == (byte)Engine.Routing.TransportProtocol.Udp ? "udp" : "tcp",
                StateName(c.Entry.State),
                Remaining(c.Entry.ExpiresAtNs, now),
                Endpoint(c.Entry.Key.Client.ToIPAddress(), c.Entry.Key.ClientPort),
                Endpoint(c.Entry.Key.Vip.ToIPAddress(), c.Entry.Key.VipPort),
                c.Server,
                c.Service))
            .ToList();
    }

    /// <exception cref="ArgumentException">The filter names an unknown service or server, or its client is not an address or CIDR prefix.</exception>
    public async Task<IReadOnlyList<PersistenceRow>> ListPersistenceAsync(TableFilter filter, CancellationToken cancellationToken)
    {
        var match = RowFilter.Create(filter, _cluster.Config);
        var snapshot = _cluster.Published;
        if (snapshot is null)
        {
            return [];
        }

        var persistent = snapshot.Services.Where(s => s.IsPersistent && (filter.Service is null || s.Name == filter.Service)).ToList();
        var lists = await Task.WhenAll(_threads.Select(t => t.InvokeAsync(e => persistent.Select(s => (Service: s, Entries: e.ListPersistence(s.Id))).ToList())))
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        long now = EngineNow();
        var names = new Names(snapshot);
        return lists.SelectMany(l => l)
            .SelectMany(l => l.Entries.Select(p => (l.Service, Entry: p, Server: names.Server(p.ServerId))))
            .Where(p => match.Matches(p.Service.Name, p.Server, p.Entry.Client, p.Service.PersistencePrefixLength))
            .OrderBy(p => p.Service.Name, StringComparer.Ordinal)
            .ThenBy(p => p.Entry.Client.High).ThenBy(p => p.Entry.Client.Low)
            .Take(Math.Max(0, filter.Limit))
            .Select(p => new PersistenceRow(p.Service.Name, ClientText(p.Entry.Client.ToIPAddress(), p.Service.PersistencePrefixLength), p.Server, Remaining(p.Entry.ExpiresAtNs, now), p.Entry.Connections))
            .ToList();
    }

    public Task<ControlResult> SetAdminStateAsync(string server, AdminAction action, string? service, CancellationToken cancellationToken)
        => _cluster.SetAdminStateAsync(server, action, service).WaitAsync(cancellationToken);

    public Task<ControlResult> SetWeightAsync(string server, int weight, string? service, CancellationToken cancellationToken)
        => _cluster.SetWeightAsync(server, weight, service).WaitAsync(cancellationToken);

    public Task<ControlResult> ReloadAsync(CancellationToken cancellationToken) => ReloadAsync("control socket", cancellationToken);

    /// <summary>As <see cref="ReloadAsync(CancellationToken)"/>; <paramref name="trigger"/> (SIGHUP, control socket) goes into the log.</summary>
    public async Task<ControlResult> ReloadAsync(string trigger, CancellationToken cancellationToken)
    {
        await _reloading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ClusterLog.Reloading(_logger, ConfigFile, trigger);
            var load = await Task.Run(_load, cancellationToken).ConfigureAwait(false);
            if (load.Config is null)
            {
                foreach (var error in load.Errors)
                {
                    ClusterLog.ReloadError(_logger, error);
                }

                string refused = $"{load.Errors.Count} error{(load.Errors.Count == 1 ? string.Empty : "s")} in '{ConfigFile}'";
                ClusterLog.ReloadRefused(_logger, refused);
                return ControlResult.Failure($"{refused}; the running configuration is kept", load.Errors);
            }

            var (result, _) = await _cluster.ApplyAsync(load.Config).ConfigureAwait(false);
            if (result.Ok)
            {
                ClusterLog.Reloaded(_logger, ConfigFile, result.Message);
            }

            return result;
        }
        finally
        {
            _reloading.Release();
        }
    }

    /// <summary>The forwarding threads' clock (see ForwardingWorker): Stopwatch ticks in nanoseconds.</summary>
    private static long EngineNow() => (long)(Stopwatch.GetTimestamp() * NanosecondsPerTick);

    private static TimeSpan Remaining(long expiresAtNs, long nowNs) => TimeSpan.FromTicks(Math.Max(0, expiresAtNs - nowNs) / 100);

    private static string Endpoint(IPAddress address, ushort port) => address.AddressFamily == AddressFamily.InterNetworkV6
        ? $"[{address}]:{port.ToString(CultureInfo.InvariantCulture)}"
        : $"{address}:{port.ToString(CultureInfo.InvariantCulture)}";

    private static string ClientText(IPAddress client, int prefixLength) =>
        prefixLength == (client.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32) ? client.ToString() : $"{client}/{prefixLength.ToString(CultureInfo.InvariantCulture)}";

    private static string StateName(ConnectionState state) => state switch
    {
        ConnectionState.Established => "ESTABLISHED",
        ConnectionState.SynSent => "SYN_SENT",
        ConnectionState.SynReceived => "SYN_RECV",
        ConnectionState.FinWait => "FIN_WAIT",
        ConnectionState.TimeWait => "TIME_WAIT",
        ConnectionState.Close => "CLOSE",
        ConnectionState.CloseWait => "CLOSE_WAIT",
        ConnectionState.LastAck => "LAST_ACK",
        ConnectionState.Listen => "LISTEN",
        ConnectionState.SynAck => "SYNACK",
        ConnectionState.Udp => "UDP",
        _ => "NONE",
    };

    /// <summary>The newest sample at least <see cref="RateWindow"/> old, else the oldest one.</summary>
    private Sample? Baseline(long now)
    {
        lock (_samplesLock)
        {
            Sample? chosen = null;
            foreach (var sample in _samples)
            {
                if (chosen is null || Stopwatch.GetElapsedTime(sample.Timestamp, now) >= RateWindow)
                {
                    chosen = sample;
                }
            }

            return chosen;
        }
    }

    private async Task SampleAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(SampleEvery);
        try
        {
            do
            {
                var snapshot = _cluster.Published;
                try
                {
                    var counters = await Task.WhenAll(_threads.Select(t => t.InvokeAsync(e =>
                    {
                        var copy = new EngineCountersSnapshot();
                        e.CopyCountersTo(copy);
                        return copy;
                    }))).ConfigureAwait(false);
                    var members = new Dictionary<(int, int), (long Packets, long Bytes)>();
                    foreach (var service in snapshot?.Services ?? [])
                    {
                        foreach (var member in service.Members)
                        {
                            members[(service.Id, member.ServerId)] = (
                                counters.Sum(c => c.Member(service.Id, member.ServerId, MemberCounter.Frames)),
                                counters.Sum(c => c.Member(service.Id, member.ServerId, MemberCounter.Bytes)));
                        }
                    }

                    var sample = new Sample(Stopwatch.GetTimestamp(), members);
                    lock (_samplesLock)
                    {
                        _samples.Enqueue(sample);
                        while (_samples.Count > 0 && Stopwatch.GetElapsedTime(_samples.Peek().Timestamp) > RateWindow + SampleEvery + SampleEvery)
                        {
                            _samples.Dequeue();
                        }
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // A forwarding thread has stopped: the process is going down; sample nothing more.
                    ClusterLog.SamplingFailed(_logger, "a forwarding thread has stopped");
                    return;
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private sealed record Sample(long Timestamp, IReadOnlyDictionary<(int Service, int Server), (long Packets, long Bytes)> Members);

    /// <summary>What one forwarding thread's engine says, read on that thread.</summary>
    private sealed class TableRead
    {
        private readonly EngineCountersSnapshot _counters = new();

        // The engine keeps its connection and persistence counts per (service, server) as entries come and go, so
        // this holds the forwarding thread for services × servers copies, not a scan of its tables.
        public static TableRead From(ForwardingEngine engine)
        {
            var read = new TableRead();
            engine.CopyCountersTo(read._counters);
            return read;
        }

        public long Counter((int Service, int Server) key, MemberCounter counter) => key.Service < 0 || key.Server < 0 ? 0 : _counters.Member(key.Service, key.Server, counter);

        public int Active((int Service, int Server) key) => _counters.ActiveConnections(key.Service, key.Server);

        public int Inactive((int Service, int Server) key) => _counters.InactiveConnections(key.Service, key.Server);

        public int Persistence((int Service, int Server) key) => _counters.PersistenceEntries(key.Service, key.Server);

        public int Persistence(int serviceId) => _counters.PersistenceEntries(serviceId);
    }

    /// <summary>Service and server names by id, for entries of removed services and servers too ("#7").</summary>
    private sealed class Names(RoutingSnapshot? snapshot)
    {
        private readonly Dictionary<int, string> _servers = snapshot?.Servers.ToDictionary(s => s.Id, s => s.Name) ?? [];

        public string Service(int id) => snapshot?.GetService(id)?.Name ?? $"#{id.ToString(CultureInfo.InvariantCulture)}";

        public string Server(int id) => _servers.GetValueOrDefault(id) ?? $"#{id.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>A <see cref="TableFilter"/>, checked against the configuration so a typo is an error rather than an empty table.</summary>
    private sealed class RowFilter
    {
        private readonly TableFilter _filter;
        private readonly IPNetwork? _network;
        private readonly IPAddress? _address;

        private RowFilter(TableFilter filter, IPNetwork? network, IPAddress? address)
        {
            _filter = filter;
            _network = network;
            _address = address;
        }

        public static RowFilter Create(TableFilter filter, ExchDsrConfig config)
        {
            if (filter.Service is { } service && !config.Services.Any(s => s.Name == service))
            {
                throw new ArgumentException(NameSuggestions.Unknown("service", service, config.Services.Select(s => s.Name)), nameof(filter));
            }

            if (filter.Server is { } server && !config.Servers.Any(s => s.Name == server))
            {
                throw new ArgumentException(NameSuggestions.Unknown("server", server, config.Servers.Select(s => s.Name)), nameof(filter));
            }

            if (filter.Client is not { } client)
            {
                return new RowFilter(filter, null, null);
            }

            string[] parts = client.Split('/');
            if (parts.Length <= 2 && IsWrittenOut(parts[0]))
            {
                if (parts.Length == 1 && IPAddress.TryParse(client, out var address))
                {
                    return new RowFilter(filter, null, address);
                }

                if (parts.Length == 2 && IPNetwork.TryParse(client, out var network))
                {
                    return new RowFilter(filter, network, null);
                }
            }

            throw new ArgumentException($"client '{client}' is neither an address nor a CIDR prefix such as 10.1.0.0/16", nameof(filter));
        }

        /// <summary>IPv6, or IPv4 as four numbers: inet_aton's shorthand would read "10.1.2" as 10.1.0.2.</summary>
        private static bool IsWrittenOut(string address) =>
            address.Contains(':', StringComparison.Ordinal) || address.Split('.').Length == 4;

        /// <summary>A persistence entry's client is masked (<paramref name="prefixLength"/>): an address matches the entry that covers it.</summary>
        public bool Matches(string service, string server, Engine.Frames.IpAddress128 client, int? prefixLength)
        {
            if ((_filter.Service is { } s && s != service) || (_filter.Server is { } r && r != server))
            {
                return false;
            }

            if (_address is not null)
            {
                var wanted = Engine.Frames.IpAddress128.FromIPAddress(_address);
                return prefixLength is { } prefix ? wanted.Mask(prefix) == client : wanted == client;
            }

            return _network is not { } network || network.Contains(client.ToIPAddress());
        }
    }
}
