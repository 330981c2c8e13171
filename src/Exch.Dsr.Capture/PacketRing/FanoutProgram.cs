using Exch.Dsr.Capture.Interop;

namespace Exch.Dsr.Capture.PacketRing;

/// <summary>
/// The classic BPF program behind <see cref="FanoutGroup"/>: reads the client address of a frame, masks it to the
/// group's prefix, and returns a 32-bit mix of it (the kernel takes it modulo the member count).
/// </summary>
/// <remarks>
/// <para>At the fanout hook the kernel has pulled the Ethernet header (and moved any 802.1Q tag into metadata), so
/// absolute loads are relative to the network header and the ethertype comes from the ancillary field
/// SKF_AD_PROTOCOL. Classic BPF loads are big-endian, so a 32-bit word of an address compares with a mask written in
/// the usual numeric order. Out-of-range loads end the program with 0 (the first member): a truncated packet cannot
/// crash or confuse the demux.</para>
/// <para>The mix is murmur3's 32-bit finaliser: masked IPv4 addresses have zero low bits (a /24 ends in 8 of them),
/// so the raw value modulo a small member count would put every client on one member.</para>
/// </remarks>
internal static class FanoutProgram
{
    private const ushort Ld = 0x00, Ldx = 0x01, Alu = 0x04, Jmp = 0x05, Ret = 0x06, Misc = 0x07;
    private const ushort W = 0x00, H = 0x08, B = 0x10;
    private const ushort Imm = 0x00, Abs = 0x20, Ind = 0x40, Msh = 0xa0;
    private const ushort Mul = 0x20, And = 0x50, Rsh = 0x70, Xor = 0xa0;
    private const ushort Ja = 0x00, Jeq = 0x10, Jge = 0x30, Jset = 0x40;
    private const ushort K = 0x00, X = 0x08, RetA = 0x10;
    private const ushort Tax = 0x00, Txa = 0x80;
    private const uint SkfAdProtocol = unchecked((uint)-0x1000); // SKF_AD_OFF + SKF_AD_PROTOCOL
    private const uint Golden = 0x9E3779B1;

    /// <summary>Assembles the program for the given prefixes (IPv4 0–32, IPv6 0–128).</summary>
    public static Libc.SockFilter[] Build(int prefixV4, int prefixV6)
    {
        var a = new Assembler();
        a.Op(Ld | W | Abs, SkfAdProtocol);
        a.Jump(Jmp | Jeq | K, 0x0800, "v4", null);
        a.Jump(Jmp | Jeq | K, 0x86DD, "v6", null);
        a.Op(Ret | K, 0);

        // IPv4. Non-first fragments carry no transport header, but the same source as their first fragment.
        a.Label("v4");
        a.Op(Ld | H | Abs, 6);
        a.Jump(Jmp | Jset | K, 0x1FFF, "v4-source", null);
        a.Op(Ld | B | Abs, 9);
        a.Jump(Jmp | Jeq | K, 1, null, "v4-source");
        a.Op(Ldx | B | Msh, 0);                 // X = IPv4 header length
        a.Op(Ld | B | Ind, 0);                  // ICMP type
        a.Jump(Jmp | Jeq | K, 3, "v4-quoted", null);  // destination unreachable (fragmentation needed)
        a.Jump(Jmp | Jeq | K, 11, "v4-quoted", null); // time exceeded
        a.Jump(Jmp | Jeq | K, 12, "v4-quoted", "v4-source"); // parameter problem
        a.Label("v4-quoted");
        a.Op(Ld | W | Ind, 8 + 16);             // ICMP header, then the quoted IPv4 header's destination
        a.Jump(Jmp | Ja, "v4-mask");
        a.Label("v4-source");
        a.Op(Ld | W | Abs, 12);
        a.Label("v4-mask");
        a.Op(Alu | And | K, PrefixMask(prefixV4));
        a.Jump(Jmp | Ja, "mix");

        // IPv6: only an ICMPv6 header right after the fixed header is looked into; an extension header in between
        // (a fragment header, say) makes the frame count by its source.
        a.Label("v6");
        a.Op(Ld | B | Abs, 6);
        a.Jump(Jmp | Jeq | K, 58, null, "v6-source");
        a.Op(Ld | B | Abs, 40);
        a.Jump(Jmp | Jge | K, 5, "v6-source", null);
        a.Jump(Jmp | Jge | K, 1, "v6-quoted", "v6-source"); // 1-4: the error messages
        a.Label("v6-quoted");
        FoldIpv6(a, 40 + 8 + 24, prefixV6);
        a.Jump(Jmp | Ja, "mix");
        a.Label("v6-source");
        FoldIpv6(a, 8, prefixV6);

        a.Label("mix");
        a.Op(Misc | Tax, 0);
        a.Op(Alu | Rsh | K, 16);
        a.Op(Alu | Xor | X, 0);
        a.Op(Alu | Mul | K, 0x85EBCA6B);
        a.Op(Misc | Tax, 0);
        a.Op(Alu | Rsh | K, 13);
        a.Op(Alu | Xor | X, 0);
        a.Op(Alu | Mul | K, 0xC2B2AE35);
        a.Op(Misc | Tax, 0);
        a.Op(Alu | Rsh | K, 16);
        a.Op(Alu | Xor | X, 0);
        a.Op(Ret | RetA, 0);
        return a.Finish();
    }

    /// <summary>The mask of the first <paramref name="bits"/> bits of a 32-bit word (bits may be outside 0–32).</summary>
    internal static uint PrefixMask(int bits) => bits <= 0 ? 0 : bits >= 32 ? uint.MaxValue : uint.MaxValue << (32 - bits);

    /// <summary>A = mix of the masked words of the IPv6 address at <paramref name="offset"/>; words the prefix leaves out are not read.</summary>
    private static void FoldIpv6(Assembler a, uint offset, int prefix)
    {
        a.Op(Ldx | Imm, 0);
        for (int word = 0; word < 4 && prefix - (32 * word) > 0; word++)
        {
            a.Op(Ld | W | Abs, offset + (uint)(4 * word));
            a.Op(Alu | And | K, PrefixMask(prefix - (32 * word)));
            a.Op(Alu | Xor | X, 0);
            a.Op(Alu | Mul | K, Golden);
            a.Op(Misc | Tax, 0);
        }

        a.Op(Misc | Txa, 0);
    }

    /// <summary>Instructions with symbolic jump targets, resolved to the 8-bit (conditional) or 32-bit (ja) forward offsets.</summary>
    private sealed class Assembler
    {
        private readonly List<(Libc.SockFilter Instruction, string? True, string? False)> _code = [];
        private readonly Dictionary<string, int> _labels = new(StringComparer.Ordinal);

        public void Op(int code, uint k) => _code.Add((new Libc.SockFilter { code = (ushort)code, k = k }, null, null));

        public void Jump(int code, uint k, string? whenTrue, string? whenFalse) =>
            _code.Add((new Libc.SockFilter { code = (ushort)code, k = k }, whenTrue, whenFalse));

        public void Jump(int code, string target) => _code.Add((new Libc.SockFilter { code = (ushort)code }, target, null));

        public void Label(string name) => _labels.Add(name, _code.Count);

        public Libc.SockFilter[] Finish()
        {
            var program = new Libc.SockFilter[_code.Count];
            for (int i = 0; i < _code.Count; i++)
            {
                var (instruction, whenTrue, whenFalse) = _code[i];
                if ((instruction.code & 0x07) == Jmp)
                {
                    if ((instruction.code & 0xF0) == Ja)
                    {
                        instruction.k = (uint)Offset(i, whenTrue);
                    }
                    else
                    {
                        instruction.jt = (byte)Offset(i, whenTrue);
                        instruction.jf = (byte)Offset(i, whenFalse);
                    }
                }

                program[i] = instruction;
            }

            return program;
        }

        private int Offset(int from, string? label)
        {
            if (label is null)
            {
                return 0;
            }

            int offset = _labels[label] - from - 1;
            if (offset is < 0 or > byte.MaxValue)
            {
                throw new InvalidOperationException($"jump from {from} to {label} is out of range ({offset})");
            }

            return offset;
        }
    }
}
