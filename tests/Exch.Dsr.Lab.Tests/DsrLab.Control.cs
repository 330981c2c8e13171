using Exch.Dsr.Control;

namespace Exch.Dsr.Lab.Tests;

/// <summary>Lab helpers for the control commands: <c>exch-dsr status|drain|...</c> run as an administrator would.</summary>
internal sealed partial class DsrLab
{
    /// <summary>The control socket <see cref="ConfigText"/> configures.</summary>
    public string ControlSocket => Path.Combine(_directory, "control.sock");

    /// <summary>
    /// Runs <c>exch-dsr COMMAND ... --config <see cref="ConfigPath"/></c> on the host: the socket is a file, reachable
    /// from any network namespace.
    /// </summary>
    public CommandResult Control(params string[] arguments) =>
        Shell.Run(TimeSpan.FromSeconds(30), Shell.DotnetHost(), [Shell.ExchDsrDll(), .. arguments, "--config", ConfigPath]);

    /// <summary>Runs a control command with <c>--json</c> and parses its response; throws with what it said when it did not answer.</summary>
    public ControlResponse ControlJson(params string[] arguments)
    {
        var result = Control([.. arguments, "--json"]);
        if (result.Output.Length == 0)
        {
            throw new InvalidOperationException($"no JSON from exch-dsr: {result}");
        }

        return ControlProtocol.DeserializeResponse(result.Output.ReplaceLineEndings(" "));
    }

    /// <summary><paramref name="server"/> in <paramref name="service"/>, as <c>exch-dsr status</c> reports it now.</summary>
    public MemberStatus Member(string service, string server) =>
        ControlJson("status").Status!.Services.Single(s => s.Name == service).Members.Single(m => m.Server == server);
}
