using Exch.Dsr.Engine.Forwarding;
using Exch.Dsr.Engine.Frames;
using Exch.Dsr.TestSupport;

namespace Exch.Dsr.DataPlane.Tests;

public sealed class VipResponderTests
{
    private static readonly MacAddress Ours = TestAddresses.Appliance;
    private readonly byte[] _reply = new byte[1600];

    [Test]
    public void An_arp_request_for_an_owned_vip_gets_a_reply_with_our_mac()
    {
        byte[] request = TestFrames.ArpRequest("192.0.2.77", TestConfigs.Vip);

        bool answered = VipResponder.TryAnswer(ForwardVerdict.ArpRequestForVip, request, ownVips: true, Ours, _reply, out int length);

        Assert.That(answered, Is.True);
        Assert.That(EthernetView.TryParse(_reply.AsSpan(0, length), out var eth, out _), Is.True);
        Assert.That(eth.Destination, Is.EqualTo(TestAddresses.Router), "back to the asker");
        Assert.That(eth.Source, Is.EqualTo(Ours));
        Assert.That(ArpView.TryParse(eth.Payload, out var arp, out _), Is.True);
        Assert.That(arp.Operation, Is.EqualTo(ArpView.OperationReply));
        Assert.That(arp.SenderIp, Is.EqualTo(IpAddress128.Parse(TestConfigs.Vip)));
        Assert.That(arp.SenderMac, Is.EqualTo(Ours));
    }

    [Test]
    public void An_echo_request_to_an_owned_vip_gets_an_echo_reply_from_the_vip()
    {
        byte[] request = TestFrames.EchoRequest("192.0.2.77", TestConfigs.Vip);

        bool answered = VipResponder.TryAnswer(ForwardVerdict.EchoRequestForVip, request, ownVips: true, Ours, _reply, out int length);

        Assert.That(answered, Is.True);
        Assert.That(EthernetView.TryParse(_reply.AsSpan(0, length), out var eth, out _), Is.True);
        Assert.That(IPv4View.TryParse(eth.Payload, out var ip, out _), Is.True);
        Assert.That(ip.Source, Is.EqualTo(IpAddress128.Parse(TestConfigs.Vip)));
        Assert.That(ip.Destination, Is.EqualTo(IpAddress128.Parse("192.0.2.77")));
    }

    [TestCase(ForwardVerdict.ArpRequestForVip)]
    [TestCase(ForwardVerdict.EchoRequestForVip)]
    public void Nothing_is_answered_when_the_vips_are_the_hosts(ForwardVerdict verdict)
    {
        byte[] request = verdict == ForwardVerdict.ArpRequestForVip ? TestFrames.ArpRequest("192.0.2.77", TestConfigs.Vip) : TestFrames.EchoRequest("192.0.2.77", TestConfigs.Vip);

        Assert.That(VipResponder.TryAnswer(verdict, request, ownVips: false, Ours, _reply, out _), Is.False);
    }

    [TestCase(ForwardVerdict.Forwarded)]
    [TestCase(ForwardVerdict.NotOurs)]
    [TestCase(ForwardVerdict.NoServer)]
    public void Other_verdicts_are_never_answered(ForwardVerdict verdict)
    {
        byte[] request = TestFrames.ArpRequest("192.0.2.77", TestConfigs.Vip);

        Assert.That(VipResponder.TryAnswer(verdict, request, ownVips: true, Ours, _reply, out _), Is.False);
    }

    [Test]
    public void A_gratuitous_arp_is_a_broadcast_request_with_the_vip_as_sender_and_target()
    {
        var vip = IpAddress128.Parse(TestConfigs.Vip);

        Assert.That(VipResponder.TryComposeGratuitousArp(_reply, vip, Ours, out int length), Is.True);
        Assert.That(EthernetView.TryParse(_reply.AsSpan(0, length), out var eth, out _), Is.True);
        Assert.That(ArpView.TryParse(eth.Payload, out var arp, out _), Is.True);
        Assert.That(eth.Destination, Is.EqualTo(MacAddress.Broadcast));
        Assert.That((arp.Operation, arp.SenderIp, arp.TargetIp, arp.SenderMac), Is.EqualTo((ArpView.OperationRequest, vip, vip, Ours)));
    }

    [Test]
    public void An_arp_request_for_a_server_is_read_back_as_from_us()
    {
        var server = IpAddress128.Parse("192.0.2.11");
        var probeSender = IpAddress128.FromIPv4(0);

        Assert.That(VipResponder.TryComposeArpRequest(_reply, server, probeSender, Ours, out int length), Is.True);
        Assert.That(VipResponder.TryReadArpSender(_reply.AsSpan(0, length), out var senderIp, out var senderMac), Is.True);
        Assert.That((senderIp, senderMac), Is.EqualTo((probeSender, Ours)));
        Assert.That(ArpView.TryParse(_reply.AsSpan(14, length - 14), out var arp, out _) && arp.TargetIp == server, Is.True);
    }

    [Test]
    public void A_tcp_frame_has_no_arp_sender()
    {
        byte[] frame = TestFrames.Tcp("192.0.2.77", 40000, TestConfigs.Vip, 443, TcpFlags.Syn);

        Assert.That(VipResponder.TryReadArpSender(frame, out _, out _), Is.False);
    }

    [Test]
    public void Answering_allocates_nothing()
    {
        byte[] arp = TestFrames.ArpRequest("192.0.2.77", TestConfigs.Vip);
        byte[] echo = TestFrames.EchoRequest("192.0.2.77", TestConfigs.Vip);
        VipResponder.TryAnswer(ForwardVerdict.ArpRequestForVip, arp, true, Ours, _reply, out _);
        VipResponder.TryAnswer(ForwardVerdict.EchoRequestForVip, echo, true, Ours, _reply, out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            VipResponder.TryAnswer(ForwardVerdict.ArpRequestForVip, arp, true, Ours, _reply, out _);
            VipResponder.TryAnswer(ForwardVerdict.EchoRequestForVip, echo, true, Ours, _reply, out _);
            VipResponder.TryReadArpSender(arp, out _, out _);
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
