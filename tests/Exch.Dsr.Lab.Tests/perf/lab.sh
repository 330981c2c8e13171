#!/usr/bin/env bash
# Sourced by the perf scripts: builds a DSR lab in network namespaces (client, appliance, two real servers, a bridge
# in its own namespace), all in 10.203.9.0/24, which exists only inside these namespaces, and tears it down on EXIT.
# Needs root, iproute2, ethtool, nft, nginx, dotnet. Not a test: a measurement harness.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# DLL may point at another build (e.g. a private copy, so concurrent builds in the repo cannot swap it mid-run).
DLL=${DLL:-"$REPO/src/Exch.Dsr/bin/Release/net10.0/exch-dsr.dll"}
# Forwarder variants the scripts run, in order: pcap, ring (the build's default receive mode), ring-frame, ring-block.
BACKENDS=${BACKENDS:-pcap ring-frame ring-block}
THREADS=${THREADS:-1}
SFX=$$
BR=xperf-br-$SFX CL=xperf-cl-$SFX AP=xperf-ap-$SFX S1=xperf-s1-$SFX S2=xperf-s2-$SFX
NETS=("$BR" "$CL" "$AP" "$S1" "$S2")
VIP=10.203.9.100 CLIENT=10.203.9.10 APPL=10.203.9.2 SRV1=10.203.9.11 SRV2=10.203.9.12
WORK=$(mktemp -d /tmp/xperf-$SFX.XXXX)
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for f in "$WORK"/s*/nginx.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  for ns in "${NETS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  # KEEP_LOGS=DIR keeps the forwarders' logs (their last status lines) for a closer look.
  [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp "$WORK"/*.log "$KEEP_LOGS"/ 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

offloads_off() { ip netns exec "$1" ethtool -K "$2" gro off gso off tso off lro off tx off rx off >/dev/null 2>&1 || true; }

attach() { # ns bridge-port address
  ip -n "$BR" link add "$2" type veth peer name eth0 netns "$1"
  ip -n "$BR" link set "$2" master br0 up
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
  offloads_off "$BR" "$2"; offloads_off "$1" eth0
}

counter() { ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }
mac_of() { ip -n "$1" -o link show dev eth0 | sed -n 's/.*link\/ether \([0-9a-f:]\{17\}\).*/\1/p'; }
# utime+stime in clock ticks of a process
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

build_lab() {
  for ns in "${NETS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip -n "$BR" link add br0 type bridge
  ip -n "$BR" link set br0 up
  for k in iptables ip6tables arptables; do ip netns exec "$BR" sysctl -q -w "net.bridge.bridge-nf-call-$k=0" 2>/dev/null || true; done
  attach "$CL" p-client "$CLIENT"
  attach "$AP" p-appliance "$APPL"
  local i=1
  for pair in "$S1:$SRV1" "$S2:$SRV2"; do
    local ns=${pair%%:*} addr=${pair##*:}
    attach "$ns" "p-server$i" "$addr"
    ip -n "$ns" addr add "$VIP/32" dev lo
    ip netns exec "$ns" sysctl -q -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
    # Sink the UDP load before the stack (which would answer with ICMP errors); rx counters still count it.
    ip netns exec "$ns" nft -f - <<NFT
table netdev sink {
  chain in { type filter hook ingress device eth0 priority 0; udp dport 9 drop; }
}
NFT
    i=$((i + 1))
  done
}

start_nginx() { # serves /1k.bin and /1m.bin on port 80 in both servers
  local i=1
  for ns in "$S1" "$S2"; do
    local d="$WORK/s$i"; mkdir -p "$d/www"
    head -c 1024 /dev/urandom > "$d/www/1k.bin"; head -c 1048576 /dev/urandom > "$d/www/1m.bin"
    cat > "$d/nginx.conf" <<NG
user root; worker_processes 1; daemon off; pid $d/nginx.pid; error_log $d/error.log warn;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $d/b; proxy_temp_path $d/p; fastcgi_temp_path $d/f; uwsgi_temp_path $d/u; scgi_temp_path $d/s;
  sendfile on; keepalive_requests 1000000;
  server { listen 80; root $d/www; } }
NG
    ip netns exec "$ns" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" & PIDS+=($!)
    i=$((i + 1))
  done
  sleep 1
}

write_config() { # variant (pcap, ring, ring-frame, ring-block) -> path
  local f="$WORK/exch-dsr-$1.toml" receive=""
  case "$1" in ring-*) receive="ring-receive = \"${1#ring-}\"";; esac
  cat > "$f" <<TOML
[appliance]
interface = "eth0"
backend = "${1%%-*}"
own-vips = true
threads = $THREADS
$receive

[control]
socket = "$WORK/control-$1.sock"
http = "off"

[[server]]
name = "CAS1"
address = "$SRV1"
mac = "auto"

[[server]]
name = "CAS2"
address = "$SRV2"
mac = "auto"

[[service]]
name = "udp-load"
vip = "$VIP"
protocol = "udp"
ports = [9]
scheduler = "rr"
[service.check]
kind = "none"

[[service]]
name = "http"
vip = "$VIP"
ports = [80]
scheduler = "rr"
[service.check]
kind = "none"
TOML
  echo "$f"
}

FWD_PID=
start_forwarder() { # backend [cpu]; sets FWD_PID (the dotnet process: ip netns exec execs it)
  local cfg log; cfg=$(write_config "$1"); log="$WORK/exch-dsr-$1.log"
  if [ -n "${2:-}" ]; then
    ip netns exec "$AP" taskset -c "$2" dotnet "$DLL" run --config "$cfg" --status-interval 1 >"$log" 2>&1 & FWD_PID=$!
  else
    ip netns exec "$AP" dotnet "$DLL" run --config "$cfg" --status-interval 1 >"$log" 2>&1 & FWD_PID=$!
  fi
  PIDS+=("$FWD_PID")
  for _ in $(seq 1 100); do
    if grep -q "Forwarding on" "$log" && grep -q "CAS1 ($SRV1) is at" "$log" && grep -q "CAS2 ($SRV2) is at" "$log"; then return 0; fi
    kill -0 "$FWD_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "exch-dsr ($1) did not become ready:" >&2; cat "$log" >&2; return 1
}

stop_forwarder() {
  [ -n "$FWD_PID" ] || return 0
  kill -TERM "$FWD_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$FWD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$FWD_PID" 2>/dev/null || true
  wait "$FWD_PID" 2>/dev/null || true
  FWD_PID=
}
