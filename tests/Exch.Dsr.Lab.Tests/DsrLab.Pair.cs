using System.Globalization;

namespace Exch.Dsr.Lab.Tests;

/// <summary>
/// A second appliance on the same bridge, and keepalived on both: the active/passive pair that replaces Piranha's
/// (and LVS + keepalived's). keepalived holds the VIP on the active appliance's eth0 (own-vips = false) and moves it
/// with VRRP; exch-dsr runs on both all the time.
/// </summary>
internal sealed partial class DsrLab
{
    public const string StandbyAddress = "10.203.7.3";

    private const int VirtualRouterId = 51;

    public string StandbyNs => $"xdsr-ap2-{_suffix}";

    /// <summary>Builds the standby appliance's namespace, attached to the bridge at <see cref="StandbyAddress"/>.</summary>
    public void AddStandby()
    {
        AddNamespace(StandbyNs);
        Attach(StandbyNs, "p-standby", StandbyAddress);
    }

    /// <summary>
    /// Starts keepalived in <paramref name="ns"/> with one VRRP instance for <see cref="Vip"/> on eth0 (advertisements
    /// every second; the higher <paramref name="priority"/> becomes master), which gives the VIP up while
    /// <c>exch-dsr status</c> on <paramref name="controlSocket"/> fails twice in a row. Stopped and cleaned up with the lab.
    /// </summary>
    public BackgroundProcess StartKeepalived(string ns, int priority, string controlSocket)
    {
        string dir = Path.Combine(_directory, ns);
        Directory.CreateDirectory(dir);
        string config = Path.Combine(dir, "keepalived.conf");
        File.WriteAllText(config, $$"""
            global_defs {
              router_id {{ns}}
              vrrp_garp_master_delay 1
              script_user root
            }
            vrrp_script exch_dsr_answers {
              script "{{Shell.DotnetHost()}} {{Shell.ExchDsrDll()}} status --socket {{controlSocket}}"
              interval 1
              timeout 2
              fall 2
              rise 2
            }
            vrrp_instance exch_dsr {
              state BACKUP
              interface eth0
              virtual_router_id {{VirtualRouterId}}
              priority {{priority.ToString(CultureInfo.InvariantCulture)}}
              advert_int 1
              virtual_ipaddress {
                {{Vip}}/32 dev eth0
              }
              track_script {
                exch_dsr_answers
              }
            }
            """);
        var process = Shell.Start(
            $"keepalived {ns}", "ip",
            "netns", "exec", ns, "keepalived", "--dont-fork", "--log-console", "--vrrp", "--use-file", config,
            "--pid", Path.Combine(dir, "keepalived.pid"), "--vrrp_pid", Path.Combine(dir, "vrrp.pid"));
        _processes.Add(process);
        return process;
    }

    /// <summary>Whether <paramref name="ns"/>'s eth0 holds <paramref name="address"/>.</summary>
    public static bool Holds(string ns, string address) =>
        Exec(ns, "ip", "-o", "address", "show", "dev", "eth0").Output.Contains($" {address}/", StringComparison.Ordinal);

    /// <summary>
    /// Starts a second <c>exch-dsr run</c> in <paramref name="ns"/> with <paramref name="configText"/> and waits (bounded)
    /// until it forwards. Stopped with the lab.
    /// </summary>
    public BackgroundProcess StartExchDsrIn(string ns, string configText)
    {
        string config = Path.Combine(_directory, $"{ns}.toml");
        File.WriteAllText(config, configText.Replace(ControlSocket, ControlSocketOf(ns), StringComparison.Ordinal));
        var process = Shell.Start(
            $"exch-dsr {ns}", "ip",
            "netns", "exec", ns, Shell.DotnetHost(), Shell.ExchDsrDll(), "run", "--config", config, "--status-interval", "1");
        _processes.Add(process);
        if (!Shell.WaitUntil(() => process.HasExited || process.Output.Contains("Forwarding on", StringComparison.Ordinal), TimeSpan.FromSeconds(20))
            || process.HasExited)
        {
            throw new InvalidOperationException($"exch-dsr in {ns} did not start forwarding; it said:\n{process.Output}");
        }

        return process;
    }

    /// <summary>The control socket of the exch-dsr <see cref="StartExchDsrIn"/> starts in <paramref name="ns"/>.</summary>
    public string ControlSocketOf(string ns) => Path.Combine(_directory, $"{ns}.sock");

    /// <summary>Runs <c>exch-dsr host-side --config FILE ARGS</c> in <paramref name="ns"/>, with the lab's configuration file.</summary>
    public CommandResult HostSideIn(string ns, params string[] arguments) =>
        Shell.Run(TimeSpan.FromSeconds(30), "ip", ["netns", "exec", ns, Shell.DotnetHost(), Shell.ExchDsrDll(), "host-side", "--config", ConfigPath, .. arguments]);
}
