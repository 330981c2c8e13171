#!/usr/bin/env bash
# Forwarded 64-byte UDP frames per second and loss through exch-dsr (pcap and ring backends), next to the same lab's
# Linux bridge (client -> server directly) in the same run. trafgen (Debian netsniff-ng) sends a fixed count at each
# offered rate from the client namespace, pinned to CPU 0; the forwarder is pinned to CPU 1. Forwarded = frames the
# two servers' eth0 received (rx_packets delta; the servers drop them at netdev ingress), sent = client tx_packets delta.
# Usage: [BACKENDS="pcap ring-frame ring-block"] [DLL=...] udp-pps.sh [seconds-per-rate (default 5)] [max-count (default 2000000)]
source "$(dirname "$0")/lab.sh"
SECS=${1:-5}
MAXN=${2:-2000000}
RATES=(50000 100000 200000 max)
command -v trafgen >/dev/null || { echo "apt-get install netsniff-ng" >&2; exit 1; }
[ -f "$DLL" ] || { echo "build first: dotnet build src/Exch.Dsr -c Release" >&2; exit 1; }

build_lab
CLMAC=$(mac_of "$CL"); APMAC=$(mac_of "$AP"); S1MAC=$(mac_of "$S1")

trafgen_conf() { # dst-mac dst-ip -> file; 42 bytes of headers + 18 bytes = 60 (64 on the wire with FCS)
  local f="$WORK/tg-$2.cfg"
  cat > "$f" <<TG
{
  eth(da=$1, sa=$CLMAC, type=0x0800),
  ipv4(saddr=$CLIENT, daddr=$2, ttl=64, df),
  udp(sport=40000, dport=9),
  fill(0x00, 18)
}
TG
  echo "$f"
}

run_rate() { # label conf rate pid-or-empty
  local label=$1 conf=$2 rate=$3 pid=$4 n args
  if [ "$rate" = max ]; then n=$MAXN; args=(); else n=$((rate * SECS)); args=(-b "${rate}pps"); fi
  local tx0 r10 r20 c0 t0 tx1 r11 r21 c1 t1
  tx0=$(counter "$CL" tx_packets); r10=$(counter "$S1" rx_packets); r20=$(counter "$S2" rx_packets)
  c0=${pid:+$(cpu_ticks "$pid")}; t0=$(date +%s.%N)
  timeout 60 ip netns exec "$CL" taskset -c 0 trafgen -o eth0 -i "$conf" -n "$n" -P 1 -q "${args[@]}" >/dev/null 2>&1 || true
  local t_end; t_end=$(date +%s.%N)
  c1=${pid:+$(cpu_ticks "$pid")}
  sleep 1 # let queued frames drain before reading the counters
  tx1=$(counter "$CL" tx_packets); r11=$(counter "$S1" rx_packets); r21=$(counter "$S2" rx_packets)
  awk -v l="$label" -v r="$rate" -v sent=$((tx1 - tx0)) -v fwd=$((r11 - r10 + r21 - r20)) \
      -v t0="$t0" -v t1="$t_end" -v cpu="${c1:-0}" -v cpu0="${c0:-0}" -v hz="$HZ" -v haspid="${pid:+1}" 'BEGIN {
    dt = t1 - t0; loss = sent > 0 ? 100 * (sent - fwd) / sent : 0; if (loss < 0) loss = 0
    cs = (cpu - cpu0) / hz
    c = "-"; u = "-"
    if (haspid != "") { c = sprintf("%.0f %%", 100 * cs / dt); if (fwd > 0) u = sprintf("%.2f", 1e6 * cs / fwd) }
    printf "| %-13s | %8s | %9d | %9d | %7.0f | %7.0f | %6.2f | %7s | %5s |\n", l, r, sent, fwd, sent / dt, fwd / dt, loss, c, u
  }'
}

echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC') $(uname -r), $(nproc) vCPU; ${SECS}s per rate, max = -n $MAXN"
echo "| path          | offered  |   sent    | forwarded | sent/s  | fwd/s   | loss % | fwd CPU | µs CPU/frame |"
echo "|---|---|---|---|---|---|---|---|---|"
BRIDGE_CONF=$(trafgen_conf "$S1MAC" "$SRV1")
VIP_CONF=$(trafgen_conf "$APMAC" "$VIP")
for rate in "${RATES[@]}"; do run_rate "bridge" "$BRIDGE_CONF" "$rate" ""; done
for backend in $BACKENDS; do
  start_forwarder "$backend" 1
  for rate in "${RATES[@]}"; do run_rate "exch-dsr $backend" "$VIP_CONF" "$rate" "$FWD_PID"; done
  grep status "$WORK/exch-dsr-$backend.log" | tail -1 | sed "s/^/# $backend last status: /"
  stop_forwarder
done
for rate in 200000 max; do run_rate "bridge" "$BRIDGE_CONF" "$rate" ""; done
