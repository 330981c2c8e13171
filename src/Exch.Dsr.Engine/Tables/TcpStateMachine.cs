using Exch.Dsr.Engine.Frames;
using Exch.Dsr.Engine.Routing;

namespace Exch.Dsr.Engine.Tables;

/// <summary>
/// LVS's TCP state table for a director that sees only the client→server direction (DR, TUN): the INPUT-ONLY rows
/// of <c>tcp_states</c> in <c>ip_vs_proto_tcp.c</c>. The event is chosen as LVS's <c>tcp_state_idx</c> does:
/// RST, else SYN, else FIN, else ACK; a segment with none of them leaves the state alone.
/// </summary>
public static class TcpStateMachine
{
    private const ConnectionState SNo = ConnectionState.None;
    private const ConnectionState SEs = ConnectionState.Established;
    private const ConnectionState SSs = ConnectionState.SynSent;
    private const ConnectionState SSr = ConnectionState.SynReceived;
    private const ConnectionState SFw = ConnectionState.FinWait;
    private const ConnectionState STw = ConnectionState.TimeWait;
    private const ConnectionState SCl = ConnectionState.Close;
    private const ConnectionState SCw = ConnectionState.CloseWait;
    private const ConnectionState SLa = ConnectionState.LastAck;
    private const ConnectionState SLi = ConnectionState.Listen;

    // Rows: syn, fin, ack, rst, and a last row for a segment with none of them, which leaves the state alone.
    // Columns: the current state in ConnectionState order (sNO … sSA).
    private static ReadOnlySpan<byte> Table =>
    [
        /* syn */ (byte)SSr, (byte)SEs, (byte)SEs, (byte)SSr, (byte)SSr, (byte)SSr, (byte)SSr, (byte)SSr, (byte)SSr, (byte)SSr, (byte)SSr,
        /* fin */ (byte)SCl, (byte)SFw, (byte)SSs, (byte)STw, (byte)SFw, (byte)STw, (byte)SCl, (byte)SCw, (byte)SLa, (byte)SLi, (byte)STw,
        /* ack */ (byte)SEs, (byte)SEs, (byte)SSs, (byte)SEs, (byte)SFw, (byte)STw, (byte)SCl, (byte)SCw, (byte)SCl, (byte)SLi, (byte)SEs,
        /* rst */ (byte)SCl, (byte)SCl, (byte)SCl, (byte)SSr, (byte)SCl, (byte)SCl, (byte)SCl, (byte)SCl, (byte)SLa, (byte)SLi, (byte)SCl,
        /* -   */ (byte)SNo, (byte)SEs, (byte)SSs, (byte)SSr, (byte)SFw, (byte)STw, (byte)SCl, (byte)SCw, (byte)SLa, (byte)SLi, (byte)ConnectionState.SynAck,
    ];

    private const int Columns = 11;

    // The row of each combination of the low five flag bits, FIN (1), SYN (2), RST (4), PSH (8, no event) and ACK (16):
    // RST, else SYN, else FIN, else ACK, else none. A lookup instead of four tests on every frame of the known-flow path.
    private static ReadOnlySpan<byte> RowByFlags =>
    [
        /* 0x00 */ 4, 1, 0, 0, 3, 3, 3, 3, 4, 1, 0, 0, 3, 3, 3, 3,
        /* 0x10 */ 2, 1, 0, 0, 3, 3, 3, 3, 2, 1, 0, 0, 3, 3, 3, 3,
    ];

    private const byte LowFiveFlags = 0x1F;

    public static ConnectionState Next(ConnectionState current, TcpFlags flags)
    {
        var row = RowByFlags[(byte)flags & LowFiveFlags];
        return (int)current < Columns ? (ConnectionState)Table[(row * Columns) + (int)current] : current;
    }
}
