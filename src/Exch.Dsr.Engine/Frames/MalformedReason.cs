namespace Exch.Dsr.Engine.Frames;

/// <summary>Why a frame could not be read. Values index the engine's malformed counters, so keep them dense.</summary>
public enum MalformedReason : byte
{
    None = 0,
    TruncatedEthernet,
    TruncatedVlan,
    TooManyVlanTags,
    TruncatedArp,
    TruncatedIPv4,
    BadIPv4Version,
    BadIPv4HeaderLength,
    BadIPv4TotalLength,
    TruncatedIPv6,
    BadIPv6Version,
    BadIPv6ExtensionHeader,
    TruncatedTcp,
    BadTcpDataOffset,
    TruncatedUdp,
    BadUdpLength,
    TruncatedIcmp,
    TruncatedIcmpv6,

    /// <summary>An ICMP error whose quoted packet ends before its IP header and the transport ports.</summary>
    TruncatedIcmpQuote,

    /// <summary>An ICMP error whose quoted packet is not an IP header of the error's own family.</summary>
    BadIcmpQuote,
}
