using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;
using Exch.Dsr.Engine.Tables;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.Engine.Tests.Tables;

public sealed class TableTests
{
    private const long Timeout = 100 * Time.Second;

    [Test]
    public void EntrySizesMatchTheirLayoutComments()
    {
        Assert.That(Unsafe.SizeOf<PersistenceEntry>(), Is.EqualTo(56));
        Assert.That(Marshal.SizeOf<PersistenceEntry>(), Is.EqualTo(56));
        Assert.That(Unsafe.SizeOf<IPv4ConnectionEntry>(), Is.EqualTo(32), "two to a cache line");
        Assert.That(Marshal.OffsetOf<IPv4ConnectionEntry>("_protocol"), Is.EqualTo((nint)12));
        Assert.That(Marshal.OffsetOf<IPv4ConnectionEntry>("_serverId"), Is.EqualTo((nint)16));
        Assert.That(Marshal.OffsetOf<IPv4ConnectionEntry>("_expiresAtNs"), Is.EqualTo((nint)24));
        Assert.That(Unsafe.SizeOf<IPv6ConnectionEntry>(), Is.EqualTo(64), "one cache line");
        Assert.That(Marshal.OffsetOf<IPv6ConnectionEntry>("_expiresAtNs"), Is.EqualTo((nint)32));
        Assert.That(Marshal.OffsetOf<IPv6ConnectionEntry>("_serverId"), Is.EqualTo((nint)48));
        Assert.That(Marshal.OffsetOf<IPv6ConnectionEntry>("_pushedUntilUnits"), Is.EqualTo((nint)52));
        Assert.That(Marshal.OffsetOf<PersistenceEntry>(nameof(PersistenceEntry.Generation)), Is.EqualTo((nint)44));
        Assert.That(Unsafe.SizeOf<FragmentEntry>(), Is.EqualTo(64));
    }

    private static IpAddress128 Client(int i) => IpAddress128.FromIPv4(0xC0000000u + (uint)i);

    [Test]
    public void PersistenceEntryExpiresAfterIdleTimeout()
    {
        var table = new PersistenceTable(8, Timeout);
        var index = table.Add(Client(1), 3, 0);
        Assert.That(table.Find(Client(1), Timeout - 1), Is.EqualTo(index));
        Assert.That(table.Find(Client(1), Timeout), Is.EqualTo(-1));
        Assert.That(table.Expirations, Is.EqualTo(1));
        Assert.That(table.Count, Is.Zero);
    }

    [Test]
    public void TouchRestartsTimer()
    {
        var table = new PersistenceTable(8, Timeout);
        var index = table.Add(Client(1), 3, 0);
        table.Touch(index, 80 * Time.Second);
        Assert.That(table.Find(Client(1), 150 * Time.Second), Is.EqualTo(index));
        Assert.That(table.Find(Client(1), 180 * Time.Second), Is.EqualTo(-1));
    }

    [Test]
    public void NoExpiryWhileConnectionsLive()
    {
        var set = new PersistenceTableSet();
        var table = new PersistenceTable(8, Timeout);
        set.Set(0, table);
        var index = table.Add(Client(1), 3, 0);
        var connections = new ConnectionTable(16, set);
        connections.EnsureServerCapacity(4);
        var key = new FlowKey(Client(1), Client(100), 1000, 443, 6);
        connections.Add(key, 0, 3, ConnectionState.Established, 9000 * Time.Second, index, 0);
        Assert.That(table.ConnectionsAt(index), Is.EqualTo(1));
        Assert.That(table.Find(Client(1), 5000 * Time.Second), Is.EqualTo(index), "timer ran out but a connection lives");

        Assert.That(table.Find(Client(1), 10_000 * Time.Second), Is.EqualTo(-1), "the connection's own deadline passed: not live any more, even unswept");

        const long t0 = 10_000 * Time.Second;
        var again = table.Add(Client(1), 3, t0);
        Assert.That(connections.Find(key, t0), Is.EqualTo(-1), "the connection expired on lookup");
        Assert.That(table.ConnectionsAt(again), Is.Zero, "the stale release did not touch the reused entry");
        var live = connections.Add(key, 0, 3, ConnectionState.Established, t0 + (500 * Time.Second), again, t0);
        connections.Update(live, ConnectionState.Established, t0 + (700 * Time.Second), t0 + (100 * Time.Second));
        Assert.That(table.Find(Client(1), t0 + (650 * Time.Second)), Is.EqualTo(again), "deadline extended by the connection's later packets");
        connections.Remove(live, t0 + (650 * Time.Second));
        Assert.That(table.ConnectionsAt(again), Is.Zero);
        Assert.That(table.Find(Client(1), t0 + (650 * Time.Second)), Is.EqualTo(-1), "idle and no connections: expired");
    }

    [Test]
    public void FullTableReclaimsExpiredBeforeLiveLru()
    {
        var table = new PersistenceTable(3, Timeout);
        table.Add(Client(1), 1, 0);
        table.Add(Client(2), 1, 50 * Time.Second);
        table.Add(Client(3), 1, 60 * Time.Second);

        // At 120 s client 1 has expired (LRU anyway): reclaimed as an expiration.
        Assert.That(table.Add(Client(4), 1, 120 * Time.Second), Is.GreaterThanOrEqualTo(0));
        Assert.That((table.Expirations, table.Evictions), Is.EqualTo((1L, 0L)));

        // Now nothing has expired: the least recently used (client 2) is evicted.
        Assert.That(table.Add(Client(5), 1, 121 * Time.Second), Is.GreaterThanOrEqualTo(0));
        Assert.That(table.Evictions, Is.EqualTo(1));
        Assert.That(table.Find(Client(2), 121 * Time.Second), Is.EqualTo(-1));
        Assert.That(table.Find(Client(3), 121 * Time.Second), Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void FloodOfNewSourcesCannotEvictClientsWithConnections()
    {
        var table = WithHeldClients(16, 4);
        for (var i = 1000; i < 11_000; i++)
        {
            table.Add(Client(i), 2, Time.Second);
        }

        for (var i = 0; i < 4; i++)
        {
            var found = table.Find(Client(i), 2 * Time.Second);
            Assert.That(found, Is.GreaterThanOrEqualTo(0), $"active client {i} survived");
            Assert.That(table.ServerIdAt(found), Is.EqualTo(1));
        }

        Assert.That(table.Evictions, Is.GreaterThan(9000));
    }

    [Test]
    public void ClientsHoldingLongConnectionsAtTheOldEndDoNotStopTheSweep()
    {
        // Outlook's way: the oldest clients keep one connection open for hours and never open another, so their
        // entries stay least recently used. 80 of them, then 20 clients that leave.
        var table = WithHeldClients(100, 80);
        for (var i = 80; i < 100; i++)
        {
            table.Add(Client(i), 2, Time.Second);
        }

        // Past the leavers' timeout, the sweep at its budget of 4 a call: a lap of the 100 entries takes 25 calls.
        var now = Timeout + (2 * Time.Second);
        var removed = 0;
        for (var call = 0; call < 25; call++)
        {
            removed += table.Sweep(now, 4);
        }

        Assert.That((removed, table.Count), Is.EqualTo((20, 80)), "the 20 expired entries behind the held ones are swept");
        Assert.That(Enumerable.Range(0, 80).Select(i => table.Find(Client(i), now)), Has.All.GreaterThanOrEqualTo(0), "every held client kept");
    }

    [Test]
    public void AReclaimThatMeetsOnlyHeldClientsMovesThemAsideForTheNext()
    {
        // 70 held clients at the old end, more than the 64 a reclaim examines, then 30 idle ones; the table is full.
        var table = WithHeldClients(100, 70);
        for (var i = 70; i < 100; i++)
        {
            table.Add(Client(i), 2, Time.Second);
        }

        Assert.That(table.Add(Client(500), 2, 2 * Time.Second), Is.EqualTo(-1), "64 held clients examined: refused");
        Assert.That(table.Add(Client(501), 2, 2 * Time.Second), Is.GreaterThanOrEqualTo(0), "the next add finds the idle clients");
        Assert.That((table.Rejections, table.Evictions), Is.EqualTo((1L, 1L)));
        Assert.That(table.Find(Client(70), 2 * Time.Second), Is.EqualTo(-1), "the least recently used idle client was evicted");
    }

    [Test]
    public void TheHashSeedMovesWhereFlowsLandAndNothingElse()
    {
        // The same 1,000 flows in tables with no seed and two seeds: each table finds every flow, and a seed puts
        // nearly every flow's home slot elsewhere, so a sender who cannot know the seed cannot choose flows that meet
        // in one cluster.
        var keys = Enumerable.Range(0, 1000).Select(i => new FlowKey(Client(i), Client(999), (ushort)(40000 + i), 443, 6)).ToArray();
        var tables = new[] { 0UL, 0x5DEE_CE66_D1CE_4E5BUL, 0x2545_F491_4F6C_DD1DUL }.Select(seed => new ConnectionTable(4096, new PersistenceTableSet(), hashSeed: seed)).ToArray();
        foreach (var table in tables)
        {
            table.EnsureServerCapacity(1);
            foreach (var key in keys)
            {
                table.Add(key, 0, 0, ConnectionState.Established, Timeout, -1, 0);
            }

            Assert.That(keys.Select(key => table.Find(key, 1)), Has.All.GreaterThanOrEqualTo(0));
        }

        Assert.That(keys.Count(key => tables[0].Home(key) != tables[1].Home(key)), Is.GreaterThan(990));
        Assert.That(keys.Count(key => tables[1].Home(key) != tables[2].Home(key)), Is.GreaterThan(990));

        // The persistence table's buckets move too (PersistenceTableAgreesWithADictionary... runs a seeded table).
        var plain = new PersistenceTable(1 << 16, Timeout);
        var seeded = new PersistenceTable(1 << 16, Timeout, 0, 0x5DEE_CE66_D1CE_4E5BUL);
        Assert.That(Enumerable.Range(0, 1000).Count(i => plain.Bucket(Client(i)) != seeded.Bucket(Client(i))), Is.GreaterThan(990));
    }

    [Test]
    public void FlowsAimedAtOneSlotOfAnUnseededTableSpreadOverASeededOne()
    {
        // What a sender who knows this code can do: pick 300 IPv6 interface ids in its own /64 whose flows to one VIP
        // all hash to slot 1000 of an unseeded table (the home slot's mix is a bijection, so it is run backwards).
        const int Flows = 300;
        var prefix = 0x2001_0DB8_0000_0001UL;
        var vip = IpAddress128.FromIPv4(0xC000_020A);
        var unseeded = new ConnectionTable(4096, new PersistenceTableSet());
        var vipTerm = ((vip.Low + 6) ^ (vip.High * 0xC2B2_AE3D_27D4_EB4FUL)) * 0x1656_67B1_9E37_79F9UL;
        var keys = new FlowKey[Flows];
        for (var i = 0; i < Flows; i++)
        {
            // Slot 1000 of 8,192: the hash's top 13 bits are 1000; the rest varies per flow.
            var hash = (1000UL << 51) | ((ulong)i << 20) | 0x5A5A5;
            var mixed = UnMix(hash) ^ (prefix * 0x9E37_79B9_7F4A_7C15UL) ^ vipTerm ^ (50000UL << 48) ^ (443UL << 32);
            keys[i] = new FlowKey(new IpAddress128(prefix, mixed), vip, 50000, 443, 6);
        }

        Assert.That(keys.Select(key => unseeded.Home(key)).Distinct(), Is.EqualTo(new[] { unseeded.IPv6Offset + 1000 }), "the aim holds without a seed");

        int LongestProbe(ConnectionTable table)
        {
            table.EnsureServerCapacity(1);
            foreach (var key in keys)
            {
                table.Add(key, 0, 0, ConnectionState.Established, Timeout, -1, 0);
            }

            return keys.Max(key => (table.Find(key, 1) - table.Home(key) + table.SlotCount) % table.SlotCount);
        }

        Assert.That(LongestProbe(unseeded), Is.EqualTo(Flows - 1), "one cluster: the last flow is found 299 slots on");
        Assert.That(LongestProbe(new ConnectionTable(4096, new PersistenceTableSet(), hashSeed: 0x5DEE_CE66_D1CE_4E5BUL)), Is.LessThan(8), "with a seed the same flows scatter");
    }

    /// <summary>The inverse of <see cref="StableHashing.Mix"/>.</summary>
    private static ulong UnMix(ulong x)
    {
        x ^= (x >> 31) ^ (x >> 62);
        x *= ModularInverse(0x94D0_49BB_1331_11EBUL);
        x ^= (x >> 27) ^ (x >> 54);
        x *= ModularInverse(0xBF58_476D_1CE4_E5B9UL);
        x ^= (x >> 30) ^ (x >> 60);
        return x;
    }

    // Newton's iteration for the inverse of an odd number modulo 2^64: each step doubles the correct low bits.
    private static ulong ModularInverse(ulong odd)
    {
        var inverse = odd;
        for (var i = 0; i < 5; i++)
        {
            inverse *= 2 - (odd * inverse);
        }

        return inverse;
    }

    [Test]
    public void DetachingAServicesPersistenceUnlinksExactlyItsConnections()
    {
        // 300 connections of two services on a table of 2,048 (IPv4 and IPv6 flows), every one linked to a persistence
        // entry; the first IPv4 slot and the last IPv6 slot are occupied too, where a walk over the occupancy bitmap
        // starts and ends.
        var set = new PersistenceTableSet();
        var tables = new[] { new PersistenceTable(512, Timeout), new PersistenceTable(512, Timeout) };
        set.Set(0, tables[0]);
        set.Set(1, tables[1]);
        var connections = new ConnectionTable(2048, set);
        connections.EnsureMemberCapacity(2, 4);
        var keys = new List<FlowKey>();
        for (var i = 0; keys.Count < 300 || !keys.Any(k => connections.Home(k) == 0) || !keys.Any(k => connections.Home(k) == connections.SlotCount - 1); i++)
        {
            var client = i % 2 == 0 ? Client(i) : IpAddress128.Parse($"2001:db8::{i:x}");
            var vip = i % 2 == 0 ? Client(999) : IpAddress128.Parse("2001:db8:ffff::1");
            var key = new FlowKey(client, vip, (ushort)(1000 + (i % 50_000)), 443, 6);
            var home = connections.Home(key);
            if (keys.Count >= 300 && home != 0 && home != connections.SlotCount - 1)
            {
                continue;
            }

            var service = keys.Count % 2;
            connections.Add(key, service, 1, ConnectionState.Established, Timeout, tables[service].Add(client, 1, 0), 0);
            keys.Add(key);
        }

        Assert.That(connections.Snapshot(), Has.Count.EqualTo(keys.Count), "the listing finds every connection, the first and last slots too");
        connections.DetachPersistence(0);

        var listed = connections.Snapshot();
        Assert.That(listed.Where(c => c.ServiceId == 0).Select(c => c.Persistent), Has.All.False);
        Assert.That(listed.Where(c => c.ServiceId == 1).Select(c => c.Persistent), Has.All.True);
        Assert.That(listed.Select(c => c.Key), Is.EquivalentTo(keys));
    }

    /// <summary>
    /// A persistence table of <paramref name="capacity"/> whose first <paramref name="held"/> clients (from time 0,
    /// server 1) each hold an established connection until 10,000 s, as Outlook's do.
    /// </summary>
    private static PersistenceTable WithHeldClients(int capacity, int held)
    {
        var set = new PersistenceTableSet();
        var table = new PersistenceTable(capacity, Timeout);
        set.Set(0, table);
        var connections = new ConnectionTable(256, set);
        connections.EnsureServerCapacity(4);
        for (var i = 0; i < held; i++)
        {
            var p = table.Add(Client(i), 1, 0);
            connections.Add(new FlowKey(Client(i), Client(999), 1000, 443, 6), 0, 1, ConnectionState.Established, 10_000 * Time.Second, p, 0);
        }

        return table;
    }

    [Test]
    public void LruOrderFollowsTouches()
    {
        var table = new PersistenceTable(2, Timeout);
        var a = table.Add(Client(1), 1, 0);
        table.Add(Client(2), 1, 1);
        table.Touch(a, 2);
        table.Add(Client(3), 1, 3);
        Assert.That(table.Find(Client(1), 4), Is.GreaterThanOrEqualTo(0));
        Assert.That(table.Find(Client(2), 4), Is.EqualTo(-1));
    }

    [Test]
    public void StaleReleaseAfterReuseIsIgnored()
    {
        var set = new PersistenceTableSet();
        var table = new PersistenceTable(1, Timeout);
        set.Set(0, table);
        var connections = new ConnectionTable(4, set);
        connections.EnsureServerCapacity(2);
        var p = table.Add(Client(1), 1, 0);
        var conn = connections.Add(new FlowKey(Client(1), Client(9), 1, 443, 6), 0, 1, ConnectionState.Established, Timeout, p, 0);
        table.Remove(p);
        var q = table.Add(Client(2), 1, 0);
        Assert.That(q, Is.EqualTo(p), "slot reused");
        connections.Remove(conn, 1);
        Assert.That(table.ConnectionsAt(q), Is.Zero);
        Assert.That(table.Find(Client(2), 1), Is.EqualTo(q));
    }

    [Test]
    public void ConnectionCountsFollowStateAndExpiry()
    {
        var connections = new ConnectionTable(16, new PersistenceTableSet());
        connections.EnsureServerCapacity(3);
        var key = new FlowKey(Client(1), Client(9), 1000, 443, 6);
        var c = connections.Add(key, 0, 2, ConnectionState.SynReceived, 60 * Time.Second, -1, 0);
        Assert.That((connections.ActiveByServer[2], connections.InactiveByServer[2]), Is.EqualTo((0, 1)));
        connections.Update(c, ConnectionState.Established, 900 * Time.Second, 0);
        Assert.That((connections.ActiveByServer[2], connections.InactiveByServer[2]), Is.EqualTo((1, 0)));
        Assert.That(connections.Find(key, 899 * Time.Second), Is.EqualTo(c));
        Assert.That(connections.Find(key, 900 * Time.Second), Is.EqualTo(-1));
        Assert.That((connections.ActiveByServer[2], connections.InactiveByServer[2], connections.Expirations), Is.EqualTo((0, 0, 1L)));
    }

    [Test]
    public void TheProbeAheadStepsPastLinesOfOtherFlowsAndStopsAtItsOwnOrAFreeSlot()
    {
        var connections = new ConnectionTable(8, new PersistenceTableSet());
        connections.EnsureServerCapacity(1);
        var (v4, v6) = (connections.IPv4Slots, connections.IPv6Slots);
        FlowKey V4(int i) => new(Client(i), Client(99), 1, 443, 6);
        FlowKey V6(int i) => new(IpAddress128.Parse($"2001:db8::{i:x}"), IpAddress128.Parse("2001:db8::99"), 1, 443, 6);
        FlowKey With(Func<int, FlowKey> key, int home, params FlowKey[] not)
            => key(Enumerable.Range(1, 60_000).First(i => connections.Home(key(i)) == home && !not.Contains(key(i))));
        void Add(FlowKey key) => connections.Add(key, 0, 0, ConnectionState.Established, Time.Second, -1, 0);
        int PastV4(FlowKey key, int slot) => v4.PrefetchPast(IPv4Flow.From(key), slot);

        // IPv4: two entries a line. Two flows fill their home line, a third with that home is found on the next.
        var first = V4(0);
        var home = connections.Home(first);
        Assert.That(home % 2, Is.Zero, "a home is the first slot of a line");
        var second = With(V4, home, first);
        var third = With(V4, home, first, second);
        Add(first);
        Add(second);
        Assert.That(PastV4(first, home), Is.EqualTo(-1), "in its line: found");
        Assert.That(PastV4(second, home), Is.EqualTo(-1), "in its line, second entry: found");
        Assert.That(PastV4(third, home), Is.EqualTo(home + 2), "a line of other flows: look one line further");
        Add(third);
        Assert.That(connections.Find(third, 0), Is.EqualTo(home + 2));
        Assert.That(PastV4(third, home + 2), Is.EqualTo(-1), "its own slot one line further: found");

        // The last line's probe wraps to the first slot.
        var lastLine = v4.SlotCount - 2;
        var last = With(V4, lastLine, first, second, third);
        Assert.That(PastV4(last, lastLine), Is.EqualTo(-1), "a free slot: not in the table");
        var filler = With(V4, lastLine, last);
        Add(filler);
        Add(With(V4, lastLine, last, filler));
        Assert.That(PastV4(last, lastLine), Is.Zero, "past the last line the probe wraps to the first slot");

        // IPv6: one entry a line, so the probe steps slot by slot (its slots numbered from 0 in the family).
        var v6First = V6(0);
        var v6Home = connections.Home(v6First) - connections.IPv6Offset;
        var v6Second = With(V6, connections.IPv6Offset + v6Home, v6First);
        Add(v6First);
        Assert.That(v6.PrefetchPast(v6First, v6Home), Is.EqualTo(-1), "its own slot: found");
        Assert.That(v6.PrefetchPast(v6Second, v6Home), Is.EqualTo((v6Home + 1) % v6.SlotCount), "another flow's slot: one further");
        var v6Last = With(V6, connections.SlotCount - 1, v6First, v6Second);
        Add(With(V6, connections.SlotCount - 1, v6Last));
        Assert.That(v6.PrefetchPast(v6Last, v6.SlotCount - 1), Is.Zero, "past the last IPv6 slot: the first");
    }

    [Test]
    public void IPv4AndIPv6FlowsLiveInTheirOwnSlotsAndShareOneCapacity()
    {
        var connections = new ConnectionTable(4, new PersistenceTableSet());
        connections.EnsureServerCapacity(2);
        var v4 = new FlowKey(Client(1), Client(99), 40000, 443, 6);
        var v6 = new FlowKey(IpAddress128.Parse("2001:db8::1"), IpAddress128.Parse("2001:db8::99"), 40000, 443, 6);
        var a = connections.Add(v4, 0, 1, ConnectionState.Established, Timeout, -1, 0);
        var b = connections.Add(v6, 0, 1, ConnectionState.SynReceived, Timeout, -1, 0);
        Assert.That(a, Is.InRange(0, connections.IPv6Offset - 1), "the 32-byte IPv4 slots");
        Assert.That(b, Is.InRange(connections.IPv6Offset, connections.SlotCount - 1), "the 64-byte IPv6 slots");
        Assert.That((connections.Find(v4, 1), connections.Find(v6, 1)), Is.EqualTo((a, b)));
        Assert.That(connections.Snapshot().Select(c => (c.Key, c.State)), Is.EquivalentTo(new[] { (v4, ConnectionState.Established), (v6, ConnectionState.SynReceived) }));
        Assert.That((connections.ActiveByServer[1], connections.InactiveByServer[1]), Is.EqualTo((1, 1)));

        // Four connections in all, of either family.
        connections.Add(new FlowKey(Client(2), Client(99), 40000, 443, 6), 0, 1, ConnectionState.Established, Timeout, -1, 0);
        connections.Add(new FlowKey(IpAddress128.Parse("2001:db8::2"), IpAddress128.Parse("2001:db8::99"), 40000, 443, 17), 0, 1, ConnectionState.Udp, Timeout, -1, 0);
        Assert.That(connections.Add(new FlowKey(Client(3), Client(99), 40000, 443, 6), 0, 1, ConnectionState.Established, Timeout, -1, 1), Is.EqualTo(-1));
        Assert.That(connections.Add(new FlowKey(IpAddress128.Parse("2001:db8::3"), IpAddress128.Parse("2001:db8::99"), 1, 443, 6), 0, 1, ConnectionState.Established, Timeout, -1, 1), Is.EqualTo(-1));
        Assert.That(connections.Rejections, Is.EqualTo(2));

        connections.Remove(connections.Find(v6, 1), 1);
        Assert.That(connections.Find(v6, 1), Is.EqualTo(-1));
        Assert.That(connections.Add(new FlowKey(Client(3), Client(99), 40000, 443, 6), 0, 1, ConnectionState.Established, Timeout, -1, 1), Is.GreaterThanOrEqualTo(0), "a freed IPv6 place takes an IPv4 flow");
    }

    [Test]
    public void TheSweepPacerAgreesWithCountingOffItsCredit([Values(1, 2, 3)] int seed)
    {
        var random = new Random(seed);
        var pacer = new SweepPacer();
        long modelAt = 0, modelCredit = 0, now = 0;
        for (var call = 0; call < 100_000; call++)
        {
            var interval = random.Next(3) == 0 ? Time.Seconds(60) : random.NextInt64(1, Time.Second);
            var units = random.Next(3) == 0 ? 1 << 25 : random.Next(0, 5000);
            var budget = random.Next(4) switch { 0 => 0, 1 => 1, 2 => 8, _ => random.Next(1, 2000) };
            now += random.Next(4) == 0 ? random.NextInt64(0, 2 * interval) : random.NextInt64(0, 1000);

            // The model: the credit counted off one interval at a time, as the pacer first did it.
            var credit = modelCredit + (Math.Clamp(now - modelAt, 0, interval) * units);
            modelAt = now;
            var expected = 0;
            while (credit >= interval && expected <= budget)
            {
                if (expected == budget)
                {
                    credit = 0;
                    break;
                }

                credit -= interval;
                expected++;
            }

            modelCredit = credit;
            Assert.That(pacer.Due(now, interval, units, budget), Is.EqualTo(expected), $"call {call}");
        }
    }

    [Test]
    public void SweepExpiresIncrementally()
    {
        var connections = new ConnectionTable(8, new PersistenceTableSet());
        connections.EnsureServerCapacity(1);
        for (var i = 0; i < 8; i++)
        {
            var state = i % 2 == 0 ? ConnectionState.Close : ConnectionState.Established;
            connections.Add(new FlowKey(Client(i), Client(99), 1, 443, 6), 0, 0, state, (i % 2 == 0 ? 10 : 100) * Time.Second, -1, 0);
        }

        // One unit (a line) a call: as many calls as slots lap them, finding every expired entry and nothing early.
        Assert.That(connections.Sweep(9 * Time.Second, connections.SlotCount), Is.Zero);
        var removed = 0;
        for (var i = 0; i < connections.SlotCount; i++)
        {
            removed += connections.Sweep(11 * Time.Second, 1);
        }

        Assert.That(removed, Is.EqualTo(4));
        Assert.That((connections.Count, connections.Expirations), Is.EqualTo((4, 4L)));
        Assert.That((connections.InactiveByServer[0], connections.ActiveByServer[0]), Is.EqualTo((0, 4)));
        for (var i = 0; i < 8; i++)
        {
            var found = connections.Find(new FlowKey(Client(i), Client(99), 1, 443, 6), 11 * Time.Second);
            Assert.That(found >= 0, Is.EqualTo(i % 2 == 1), $"connection {i}");
        }
    }

    [Test]
    public void SweepDueCoversTheTableOncePerIntervalWithinTheBudget()
    {
        var connections = new ConnectionTable(8, new PersistenceTableSet());
        connections.EnsureServerCapacity(1);
        for (var i = 0; i < 8; i++)
        {
            connections.Add(new FlowKey(Client(i), Client(99), 1, 443, 6), 0, 0, ConnectionState.Close, Time.Second, -1, 0);
        }

        // The table's 32 lines (16 of IPv4 slots, 16 IPv6 slots) per 16 s: two lines a second come due, so calls a
        // quarter second apart examine a line every other call.
        const long interval = 16 * Time.Second;
        var t = 2 * Time.Second;
        connections.SweepDue(t, interval, 8);
        for (var i = 0; i < 64; i++)
        {
            connections.SweepDue(t += Time.Second / 4, interval, 8);
        }

        Assert.That(connections.Count, Is.Zero, "16 s of calls examined the IPv4 lines, where the connections are");

        // After a long pause the budget caps the work of one call.
        var fresh = new ConnectionTable(8, new PersistenceTableSet());
        fresh.EnsureServerCapacity(1);
        for (var i = 0; i < 8; i++)
        {
            fresh.Add(new FlowKey(Client(i), Client(99), 1, 443, 6), 0, 0, ConnectionState.Close, Time.Second, -1, 0);
        }

        fresh.SweepDue(0, interval, 8);
        fresh.SweepDue(1000 * Time.Second, interval, 1);
        var left = fresh.Count;
        Assert.That(left, Is.GreaterThan(0), "one line examined, not the 32 that came due");
        fresh.SweepDue(1000 * Time.Second, interval, 8);
        Assert.That(fresh.Count, Is.EqualTo(left), "no time passed, nothing due: the rest of the pause was dropped");
        fresh.SweepDue(1000 * Time.Second + interval, interval, 16);
        Assert.That(fresh.Count, Is.Zero, "a whole interval later, a budget of 16 lines: all the IPv4 slots");
    }

    [TestCase(50, 1, 0UL)]
    [TestCase(64, 2, 0UL)]
    [TestCase(200, 3, 0UL)]
    [TestCase(200, 4, 0x5DEE_CE66_D1CE_4E5BUL)]
    public void ALapOfTheSweepFindsEveryExpiredEntryAfterARandomHistory(int capacity, int seed, ulong hashSeed)
    {
        // Adds, removals (which shift clusters back) and partial sweeps at random, IPv4 and IPv6 flows, on a table
        // small enough to be full of clusters; a capacity of 50 leaves the last bitmap word of each family part-used. After every step a lap of the sweep must
        // leave exactly the entries whose time has not come: an occupied slot the bitmap hid would stay behind.
        var random = new Random(seed);
        var connections = new ConnectionTable(capacity, new PersistenceTableSet(), hashSeed: hashSeed);
        connections.EnsureServerCapacity(1);
        var live = new Dictionary<FlowKey, long>();
        var now = Time.Second;
        for (var step = 0; step < 4000; step++)
        {
            now += random.Next(1, 200) * (Time.Second / 1000);
            var client = random.Next(capacity * 2);
            var key = client % 3 == 0
                ? new FlowKey(IpAddress128.Parse($"2001:db8::{client:x}"), IpAddress128.Parse("2001:db8::99"), (ushort)random.Next(1, 4), 443, 6)
                : new FlowKey(Client(client), Client(99), (ushort)random.Next(1, 4), 443, 6);
            var action = random.Next(4);
            var found = connections.Find(key, now);
            if (action < 2 && found < 0 && connections.Count < capacity)
            {
                var expires = now + (random.Next(1, 40) * 100 * (Time.Second / 1000));
                Assert.That(connections.Add(key, 0, 0, ConnectionState.Established, expires, -1, now), Is.GreaterThanOrEqualTo(0));
                live[key] = expires;
            }
            else if (action == 2 && found >= 0)
            {
                connections.Remove(found, now);
                live.Remove(key);
            }
            else if (action == 3)
            {
                connections.Sweep(now, random.Next(1, 70));
            }

            foreach (var expired in live.Where(e => e.Value <= now).Select(e => e.Key).ToList())
            {
                live.Remove(expired);
            }

            if (step % 10 == 0)
            {
                connections.Sweep(now, connections.SlotCount);
                Assert.That(connections.Count, Is.EqualTo(live.Count), $"step {step}: entries left after a lap");
                foreach (var key2 in live.Keys)
                {
                    Assert.That(connections.Find(key2, now), Is.GreaterThanOrEqualTo(0), $"step {step}: {key2} lost");
                }
            }
        }
    }

    [TestCase(1, 0UL)]
    [TestCase(2, 0UL)]
    [TestCase(3, 0UL)]
    [TestCase(4, 0x5DEE_CE66_D1CE_4E5BUL)]
    public void PersistenceTableAgreesWithADictionaryThroughAddsRemovalsAndReclaims(int seed, ulong hashSeed)
    {
        // 24 entries over 32 buckets and 60 clients: long chains, removals from their heads, middles and tails, entries
        // handed out fresh and then reused, and reclaims when full.
        var random = new Random(seed);
        var table = new PersistenceTable(24, Timeout, 4, hashSeed);
        var model = new Dictionary<IpAddress128, (int Server, long Expires)>();
        var now = Time.Second;
        for (var step = 0; step < 20_000; step++)
        {
            // One nanosecond a step: nothing expires, and the model's least recently used is its oldest add.
            now++;
            var client = Client(random.Next(60));
            var index = table.Find(client, now);
            Assert.That(index >= 0, Is.EqualTo(model.ContainsKey(client)), $"step {step}: found");
            if (index >= 0)
            {
                Assert.That(table.ServerIdAt(index), Is.EqualTo(model[client].Server), $"step {step}: server");
                if (random.Next(3) == 0)
                {
                    table.Remove(index);
                    model.Remove(client);
                }
            }
            else
            {
                var server = random.Next(4);
                var added = table.Add(client, server, now);
                Assert.That(added, Is.GreaterThanOrEqualTo(0), $"step {step}: nothing has connections, so nothing is refused");
                if (model.Count == table.Capacity)
                {
                    // Reclaimed the least recently used entry: drop the model's oldest.
                    model.Remove(model.MinBy(e => e.Value.Expires).Key);
                }

                model[client] = (server, now + Timeout);
            }

            Assert.That(table.Count, Is.EqualTo(model.Count), $"step {step}: count");
        }
    }

    [Test]
    public void NewTablesTakeMemoryOnlyAsEntriesArrive()
    {
        // Empty is all zeros, so a million-entry table is only address space until clients arrive: nothing walks it
        // at start. Collect first so the tables get fresh pages rather than ones a previous test left resident.
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var before = CurrentResidentBytes();
        var persistence = new PersistenceTableSet();
        var connections = new ConnectionTable(1 << 20, persistence);
        var templates = new PersistenceTable(1 << 20, Timeout);
        var after = CurrentResidentBytes();
        GC.KeepAlive(connections);
        GC.KeepAlive(templates);

        // 128 MiB of connection slots and 60 MB of templates; the occupancy bitmap (256 KiB) is all that may be touched.
        Assert.That(after - before, Is.LessThan(16L << 20), $"resident memory grew by {(after - before) >> 20} MiB");
    }

    private static long CurrentResidentBytes()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    [Test]
    public void RemovalKeepsTheRestOfACollidingClusterFindable()
    {
        // A full table of 64 in 128 slots has clusters; removing every third entry shifts the rest back.
        var connections = new ConnectionTable(64, new PersistenceTableSet());
        connections.EnsureServerCapacity(1);
        var keys = Enumerable.Range(0, 64).Select(i => new FlowKey(Client(i), Client(99), (ushort)(1000 + i), 443, 6)).ToArray();
        var indices = keys.Select(k => connections.Add(k, 0, 0, ConnectionState.Established, 100 * Time.Second, -1, 0)).ToArray();
        Assert.That(indices, Has.All.GreaterThanOrEqualTo(0));
        for (var i = 0; i < 64; i += 3)
        {
            connections.Remove(connections.Find(keys[i], 1), 1);
        }

        for (var i = 0; i < 64; i++)
        {
            Assert.That(connections.Find(keys[i], 1) >= 0, Is.EqualTo(i % 3 != 0), $"connection {i}");
        }

        Assert.That((connections.Count, connections.ActiveByServer[0]), Is.EqualTo((42, 42)));
        Assert.That(connections.Add(new FlowKey(Client(500), Client(99), 1, 443, 6), 0, 0, ConnectionState.Established, 100 * Time.Second, -1, 0), Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void BusyConnectionReportsItsDeadlineToPersistenceAboutOncePerTimeout()
    {
        var set = new PersistenceTableSet();
        var table = new PersistenceTable(8, Timeout);
        set.Set(0, table);
        var connections = new ConnectionTable(16, set);
        connections.EnsureServerCapacity(4);
        var p = table.Add(Client(1), 3, 0);
        var key = new FlowKey(Client(1), Client(100), 1000, 443, 6);
        var c = connections.Add(key, 0, 3, ConnectionState.Established, 200 * Time.Second, p, 0);

        // A packet every second with a 200 s timeout: the first reports 2 x 201 - 1 = 401 s, the next nine nothing
        // (had each reported, the last would have said 2 x 210 - 10 = 410 s; exactly, 210 s).
        for (var t = 1; t <= 10; t++)
        {
            connections.Update(c, ConnectionState.Established, (t + 200) * Time.Second, t * Time.Second);
        }

        Assert.That(table.Find(Client(1), 400 * Time.Second), Is.EqualTo(p), "counts until the reported 401 s, within one timeout of 210 s");
        Assert.That(table.Find(Client(1), 401 * Time.Second), Is.EqualTo(-1), "only the first packet reported");
    }

    [Test]
    public void ABusyFlowsDeadlineMovesInSecondSteps()
    {
        var connections = new ConnectionTable(16, new PersistenceTableSet());
        connections.EnsureServerCapacity(1);
        var key = new FlowKey(Client(1), Client(100), 1000, 443, 6);
        var c = connections.Add(key, 0, 0, ConnectionState.Established, 900 * Time.Second, -1, 0);

        connections.Update(c, ConnectionState.Established, Time.Seconds(900.6), Time.Seconds(0.6));
        Assert.That(connections.ExpiresAtNs(c), Is.EqualTo(900 * Time.Second), "0.6 s later: the slot is left as it was");
        connections.Update(c, ConnectionState.Established, Time.Seconds(901.2), Time.Seconds(1.2));
        Assert.That(connections.ExpiresAtNs(c), Is.EqualTo(Time.Seconds(901.2)), "1.2 s later: moved");
        connections.Update(c, ConnectionState.FinWait, Time.Seconds(121.5), Time.Seconds(1.5));
        Assert.That(connections.ExpiresAtNs(c), Is.EqualTo(Time.Seconds(121.5)), "a new state always writes, shorter or not");
        connections.Update(c, ConnectionState.FinWait, Time.Seconds(60), Time.Seconds(1.6));
        Assert.That(connections.ExpiresAtNs(c), Is.EqualTo(60 * Time.Second), "a shorter deadline (a reload cut the timeout) is written at once");

        // A 4 s timeout moves in eighths of it, 0.5 s.
        var shortKey = new FlowKey(Client(2), Client(100), 1000, 443, 6);
        var s = connections.Add(shortKey, 0, 0, ConnectionState.Close, 4 * Time.Second, -1, 0);
        connections.Update(s, ConnectionState.Close, Time.Seconds(4.4), Time.Seconds(0.4));
        Assert.That(connections.ExpiresAtNs(s), Is.EqualTo(4 * Time.Second));
        connections.Update(s, ConnectionState.Close, Time.Seconds(4.5), Time.Seconds(0.5));
        Assert.That(connections.ExpiresAtNs(s), Is.EqualTo(Time.Seconds(4.5)));
    }

    [Test]
    public void FullConnectionTableRefusesOnlyWhenNothingExpired()
    {
        var connections = new ConnectionTable(2, new PersistenceTableSet());
        connections.EnsureServerCapacity(1);
        connections.Add(new FlowKey(Client(1), Client(99), 1, 443, 6), 0, 0, ConnectionState.Established, 10 * Time.Second, -1, 0);
        connections.Add(new FlowKey(Client(2), Client(99), 1, 443, 6), 0, 0, ConnectionState.Established, 20 * Time.Second, -1, 0);
        Assert.That(connections.Add(new FlowKey(Client(3), Client(99), 1, 443, 6), 0, 0, ConnectionState.Established, 30 * Time.Second, -1, Time.Second), Is.EqualTo(-1));
        Assert.That(connections.Rejections, Is.EqualTo(1));
        Assert.That(connections.Add(new FlowKey(Client(3), Client(99), 1, 443, 6), 0, 0, ConnectionState.Established, 30 * Time.Second, -1, 15 * Time.Second), Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void AFullTableReclaimsAnExpiredEntryWhileItsSweepCrossesTheOtherFamilysEmptySlots()
    {
        // 8,192 IPv4 connections fill the table; the sweep's cursor stands in the IPv6 slots, 256 empty bitmap words
        // long. A new connection after they all expired must reclaim one: the reclaim counts entries, not free runs.
        const int Capacity = 8192;
        var connections = new ConnectionTable(Capacity, new PersistenceTableSet());
        connections.EnsureServerCapacity(1);
        for (var i = 0; i < Capacity; i++)
        {
            connections.Add(new FlowKey(Client(i), Client(99999), 1000, 443, 6), 0, 0, ConnectionState.Established, 10 * Time.Second, -1, 0);
        }

        while (connections.SweepCursor < connections.IPv6Offset + 64)
        {
            connections.Sweep(Time.Second, 1);
        }

        Assert.That(connections.Count, Is.EqualTo(Capacity), "nothing expired before 10 s");
        Assert.That(connections.Add(new FlowKey(Client(Capacity), Client(99999), 1000, 443, 6), 0, 0, ConnectionState.Established, 20 * Time.Second, -1, 11 * Time.Second), Is.GreaterThanOrEqualTo(0));
        Assert.That(connections.Rejections, Is.Zero);
    }

    [Test]
    public void FragmentTableRingOverwritesOldest()
    {
        var fragments = new FragmentTable(2, 30 * Time.Second);
        fragments.Record(Client(1), Client(9), 17, 1, 0, 5, 0);
        fragments.Record(Client(1), Client(9), 17, 2, 0, 6, 0);
        fragments.Record(Client(1), Client(9), 17, 3, 0, 7, 0);
        Assert.That(fragments.TryFind(Client(1), Client(9), 17, 1, 1, out _, out _), Is.False);
        Assert.That(fragments.TryFind(Client(1), Client(9), 17, 3, 1, out _, out var server) && server == 7, Is.True);
        Assert.That(fragments.Evictions, Is.EqualTo(1));
        Assert.That(fragments.TryFind(Client(1), Client(9), 17, 3, 31 * Time.Second, out _, out _), Is.False, "expired");
    }

    [TestCase(ConnectionState.None, TcpFlags.Syn, ConnectionState.SynReceived)]
    [TestCase(ConnectionState.SynReceived, TcpFlags.Ack, ConnectionState.Established)]
    [TestCase(ConnectionState.Established, TcpFlags.Ack | TcpFlags.Psh, ConnectionState.Established)]
    [TestCase(ConnectionState.Established, TcpFlags.Fin | TcpFlags.Ack, ConnectionState.FinWait)]
    [TestCase(ConnectionState.FinWait, TcpFlags.Ack, ConnectionState.FinWait)]
    [TestCase(ConnectionState.FinWait, TcpFlags.Fin, ConnectionState.FinWait)]
    [TestCase(ConnectionState.SynReceived, TcpFlags.Fin, ConnectionState.TimeWait)]
    [TestCase(ConnectionState.Established, TcpFlags.Rst | TcpFlags.Ack, ConnectionState.Close)]
    [TestCase(ConnectionState.SynReceived, TcpFlags.Rst, ConnectionState.SynReceived)]
    [TestCase(ConnectionState.None, TcpFlags.Ack, ConnectionState.Established)]
    [TestCase(ConnectionState.Close, TcpFlags.Syn, ConnectionState.SynReceived)]
    [TestCase(ConnectionState.Established, TcpFlags.None, ConnectionState.Established)]
    public void TcpInputOnlyTransitionsMatchLvs(ConnectionState from, TcpFlags flags, ConnectionState to)
        => Assert.That(TcpStateMachine.Next(from, flags), Is.EqualTo(to));

    [Test]
    public void EveryFlagCombinationPicksItsEventAsLvsDoes()
    {
        // LVS's tcp_state_idx: RST, else SYN, else FIN, else ACK, else no event (the state stays). The machine looks
        // the event up by the flag bits; this walks all 256 combinations through every state against the tests.
        foreach (var state in Enum.GetValues<ConnectionState>())
        {
            for (var bits = 0; bits < 256; bits++)
            {
                var flags = (TcpFlags)bits;
                var single = (flags & TcpFlags.Rst) != 0 ? TcpFlags.Rst
                    : (flags & TcpFlags.Syn) != 0 ? TcpFlags.Syn
                    : (flags & TcpFlags.Fin) != 0 ? TcpFlags.Fin
                    : (flags & TcpFlags.Ack) != 0 ? TcpFlags.Ack
                    : TcpFlags.None;
                var expected = single == TcpFlags.None ? state : TcpStateMachine.Next(state, single);
                Assert.That(TcpStateMachine.Next(state, flags), Is.EqualTo(expected), $"{state} + {flags}");
            }
        }

        Assert.That(TcpStateMachine.Next(ConnectionState.Udp, TcpFlags.Ack), Is.EqualTo(ConnectionState.Udp), "no row for a state outside TCP's");
    }
}
