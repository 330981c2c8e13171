using System.Diagnostics;
using Exch.Dsr.Capture.PacketRing;
using Exch.Dsr.Capture.Ports;

namespace Exch.Dsr.Capture.Tests.Ports;

/// <summary>
/// The client-address fanout (PACKET_FANOUT_CBPF) on a real veth: frames sent from one end, two member ports on the
/// other, the kernel running our classic BPF program on each frame.
/// </summary>
[NonParallelizable]
public sealed class FanoutTests
{
    private const string Vip = "10.20.30.40";
    private const string Vip6 = "2001:db8:20::40";
    private NetnsLab? _lab;
    private ushort _group = 5000;

    [TestCase(RingReceiveMode.Frame)]
    [TestCase(RingReceiveMode.Block)]
    public void Every_frame_of_a_client_lands_on_one_port_and_clients_spread_over_both(RingReceiveMode mode)
    {
        const int Clients = 64;
        var frames = new List<(int Client, byte[] Frame)>();
        int sequence = 0;
        for (int client = 0; client < Clients; client++)
        {
            string address = $"198.51.{100 + (client / 32)}.{(client % 32) + 1}";
            foreach (ushort port in new ushort[] { 135, 6001, 6004, 443 })
            {
                frames.Add((client, LabFrames.Tcp(sequence++, address, Vip, (ushort)(40000 + client), port)));
            }

            // The same client in an 802.1Q-tagged frame (the receive path moves the tag into metadata before the fanout
            // hook) and in a later fragment (no ports in it).
            frames.Add((client, LabFrames.Tcp(sequence++, address, Vip, (ushort)(41000 + client), 135, vlanTci: 42)));
            frames.Add((client, LabFrames.Ipv4LaterFragment(sequence++, address, Vip)));
        }

        var portOf = Deliver(mode, new FanoutGroup(NextGroup(), 32, 128), frames.Select(f => f.Frame).ToList());

        var portsPerClient = Enumerable.Range(0, Clients).ToDictionary(c => c, c => frames.Select((f, i) => (f.Client, i)).Where(x => x.Client == c).Select(x => portOf[x.i]).Distinct().ToList());
        Assert.That(portsPerClient.Values.Select(p => p.Count), Is.All.EqualTo(1), "every frame of one client, tagged, fragmented or on any port, reaches the same member");
        int onFirst = portsPerClient.Values.Count(p => p[0] == 0);
        TestContext.Out.WriteLine($"{onFirst} of {Clients} clients on port 0");
        Assert.That(onFirst, Is.InRange(Clients / 4, Clients * 3 / 4), "clients spread over both members");
    }

    [Test]
    public void Clients_under_one_persistence_prefix_share_a_port()
    {
        const int Networks = 32;
        var frames = new List<(int Network, byte[] Frame)>();
        int sequence = 0;
        for (int network = 0; network < Networks; network++)
        {
            foreach (int host in new[] { 1, 77, 254 })
            {
                frames.Add((network, LabFrames.Tcp(sequence++, $"203.0.{network}.{host}", Vip, 40000, 443)));
            }
        }

        var portOf = Deliver(RingReceiveMode.Frame, new FanoutGroup(NextGroup(), 24, 128), frames.Select(f => f.Frame).ToList());

        var portsPerNetwork = frames.Select((f, i) => (f.Network, Port: portOf[i])).GroupBy(x => x.Network).Select(g => g.Select(x => x.Port).Distinct().Count());
        Assert.That(portsPerNetwork, Is.All.EqualTo(1), "a /24 persistence key stays on one member");
        Assert.That(portOf.Values.Distinct().Count(), Is.EqualTo(2), "the /24s spread over both members");
    }

    [Test]
    public void An_icmp_error_about_a_reply_goes_to_the_port_of_the_client_it_quotes()
    {
        const int Clients = 24;
        var frames = new List<byte[]>();
        int sequence = 0;
        for (int client = 0; client < Clients; client++)
        {
            // The client's own segment, then a router's "fragmentation needed" about the VIP's reply to that client,
            // sent to the VIP from an address that is nobody's client; and the same for IPv6 with packet-too-big.
            frames.Add(LabFrames.Tcp(sequence++, $"198.51.100.{client + 1}", Vip, 50000, 443));
            frames.Add(LabFrames.Ipv4FragmentationNeeded(sequence++, "192.0.2.254", Vip, $"198.51.100.{client + 1}"));
            frames.Add(LabFrames.Tcp6(sequence++, $"2001:db8:c::{client + 1:x}", Vip6, 50000, 443));
            frames.Add(LabFrames.Ipv6PacketTooBig(sequence++, "2001:db8:ffff::fe", Vip6, $"2001:db8:c::{client + 1:x}"));
        }

        var portOf = Deliver(RingReceiveMode.Frame, new FanoutGroup(NextGroup(), 32, 128), frames);

        for (int client = 0; client < Clients; client++)
        {
            int first = client * 4;
            Assert.That(portOf[first + 1], Is.EqualTo(portOf[first]), $"IPv4 client {client}: the ICMP error follows the flow");
            Assert.That(portOf[first + 3], Is.EqualTo(portOf[first + 2]), $"IPv6 client {client}: the ICMPv6 error follows the flow");
        }

        Assert.That(Enumerable.Range(0, Clients).Select(c => portOf[c * 4]).Distinct().Count(), Is.EqualTo(2), "IPv4 clients on both members");
        Assert.That(Enumerable.Range(0, Clients).Select(c => portOf[(c * 4) + 2]).Distinct().Count(), Is.EqualTo(2), "IPv6 clients on both members");
    }

    [Test]
    public void A_member_does_not_receive_what_a_member_sends()
    {
        NetnsLab lab = Lab();
        using IFramePort peer = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fo-a", BlockCount = 4 }));
        var group = new FanoutGroup(NextGroup());
        IFramePort[] members = lab.Run(() => new IFramePort[]
        {
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fo-b", BlockCount = 4, Fanout = group }),
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fo-b", BlockCount = 4, Fanout = group }),
        });
        try
        {
            var sent = Enumerable.Range(90_000, 40).Select(i => LabFrames.Tcp(i, $"198.51.100.{i % 200}", Vip, 40000, 443)).ToList();
            Receiving.SendAll(members[0], sent.Take(20));
            Receiving.SendAll(members[1], sent.Skip(20));

            var atPeer = Receiving.Collect(peer, 40, TimeSpan.FromSeconds(3)).Frames;
            var echoed = members.SelectMany(m => Receiving.Drain(m, TimeSpan.FromMilliseconds(300)).Keys).ToList();

            Assert.That(atPeer, Has.Count.EqualTo(40), "the frames went out");
            Assert.That(echoed, Is.Empty, "PACKET_FANOUT_FLAG_IGNORE_OUTGOING keeps the group from capturing its own sends");
        }
        finally
        {
            foreach (IFramePort member in members)
            {
                member.Dispose();
            }
        }
    }

    [Test]
    public void A_bad_group_is_refused_before_any_socket_is_opened()
    {
        Assert.That(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "lo", Fanout = new FanoutGroup(0) }), Throws.ArgumentException);
        Assert.That(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "lo", Fanout = new FanoutGroup(7, 33) }), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "lo", Fanout = new FanoutGroup(7, 32, 129) }), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [OneTimeTearDown]
    public void DeleteLab() => _lab?.Dispose();

    /// <summary>Sends <paramref name="frames"/> into a fresh two-member group; returns the member each one reached, by index.</summary>
    private Dictionary<int, int> Deliver(RingReceiveMode mode, FanoutGroup group, List<byte[]> frames)
    {
        NetnsLab lab = Lab();
        using IFramePort sender = lab.Run<IFramePort>(() => PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fo-a", BlockCount = 4 }));
        IFramePort[] ports = lab.Run(() => new IFramePort[]
        {
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fo-b", BlockCount = 8, ReceiveMode = mode, Fanout = group }),
            PacketRingPort.Open(new PacketRingOptions { InterfaceName = "fo-b", BlockCount = 8, ReceiveMode = mode, Fanout = group }),
        });
        try
        {
            var first = LabFrames.SequenceOf(frames[0]);
            var portOf = new Dictionary<int, int>();
            var batch = new FrameBatch(64);
            var clock = Stopwatch.StartNew();
            for (int at = 0; at < frames.Count; at += 32)
            {
                // Small bursts: a burst is queued on the veth's backlog at once and must fit the members' rings.
                Receiving.SendAll(sender, frames.Skip(at).Take(32));
                while (portOf.Count < Math.Min(at + 32, frames.Count) && clock.Elapsed < TimeSpan.FromSeconds(10))
                {
                    for (int p = 0; p < ports.Length; p++)
                    {
                        int count = ports[p].Receive(batch, 5);
                        for (int i = 0; i < count; i++)
                        {
                            int sequence = LabFrames.SequenceOf(batch[i]);
                            if (sequence >= first && sequence < first + frames.Count)
                            {
                                Assert.That(portOf.TryAdd(sequence - first, p), Is.True, $"frame {sequence} delivered twice");
                            }
                        }
                    }
                }
            }

            Assert.That(portOf, Has.Count.EqualTo(frames.Count), "every frame reached exactly one member");
            return portOf;
        }
        finally
        {
            foreach (IFramePort port in ports)
            {
                port.Dispose();
            }
        }
    }

    /// <summary>A fresh group id per use: a closed group lingers until its last member socket is released.</summary>
    private ushort NextGroup() => _group++;

    private NetnsLab Lab()
    {
        if (_lab is null)
        {
            _lab = NetnsLab.Create();
            _lab.AddVethPair("fo-a", "fo-b");
        }

        return _lab;
    }
}
