#!/usr/bin/env bash
# HTTP through exch-dsr (pcap and ring) next to HAProxy 2.6 in TCP mode and straight to one server, in the same run.
# wrk -t2 -c32 for SECS seconds from the client namespace, 1 KiB and 1 MiB responses from nginx (one worker per
# server). The balancer's CPU is the utime+stime delta of its process (/proc/PID/stat) over the wrk run.
# HAProxy runs in the appliance namespace, bound on the appliance's own address, balancing to the servers' own
# addresses; exch-dsr is stopped while HAProxy runs.
# Usage: [FILES="1k.bin 1m.bin"] [LATENCY=1] [CONNS="-t2 -c32"] [BACKENDS="pcap ring-frame ring-block"] [DLL=...] http-wrk.sh [seconds (default 10)]
#   LATENCY=1 adds wrk --latency and reports the 50th/99th percentile in the last column.
source "$(dirname "$0")/lab.sh"
SECS=${1:-10}
FILES=${FILES:-1k.bin 1m.bin}
read -r -a CONN_ARGS <<< "${CONNS:--t2 -c32}"
WRK_EXTRA=(); [ "${LATENCY:-0}" = 1 ] && WRK_EXTRA=(--latency)
for t in wrk haproxy nginx; do command -v $t >/dev/null || { echo "needs $t (apt-get install wrk haproxy nginx)" >&2; exit 1; }; done
[ -f "$DLL" ] || { echo "build first: dotnet build src/Exch.Dsr -c Release" >&2; exit 1; }

build_lab
start_nginx

run_wrk() { # label url pid-or-empty
  local label=$1 url=$2 pid=$3 c0 c1 out
  c0=${pid:+$(cpu_ticks "$pid")}
  local t0; t0=$(date +%s.%N)
  out=$(timeout $((SECS + 20)) ip netns exec "$CL" wrk "${CONN_ARGS[@]}" -d"${SECS}s" "${WRK_EXTRA[@]}" "$url" 2>&1 || true)
  local t1; t1=$(date +%s.%N)
  c1=${pid:+$(cpu_ticks "$pid")}
  local rps mibs errs
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  mibs=$(echo "$out" | awk '/Transfer\/sec/ {v=$2; if (v ~ /GB$/) x=v*1024; else if (v ~ /MB$/) x=v+0; else if (v ~ /KB$/) x=v/1024; else x=v/1048576; print x}')
  errs=$(echo "$out" | awk '/Socket errors|Non-2xx/ {sub(/^ +/, ""); printf "%s; ", $0} /^ +50%/ {printf "p50 %s; ", $2} /^ +99%/ {printf "p99 %s; ", $2}')
  awk -v l="$label" -v u="${url##*/}" -v rps="${rps:-0}" -v m="${mibs:-0}" -v t0="$t0" -v t1="$t1" \
      -v cpu="${c1:-0}" -v cpu0="${c0:-0}" -v hz="$HZ" -v haspid="${pid:+1}" -v e="${errs:-}" 'BEGIN {
    c = "-"; if (haspid != "") c = sprintf("%.0f %%", 100 * (cpu - cpu0) / hz / (t1 - t0))
    printf "| %-15s | %-6s | %9.0f | %8.1f | %7s | %s |\n", l, u, rps, m, c, e
  }'
}

echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC') $(uname -r), $(nproc) vCPU; wrk ${CONN_ARGS[*]} -d${SECS}s"
echo "| path            | file   |   req/s   |  MiB/s   | balancer CPU | errors / latency |"
echo "|---|---|---|---|---|---|"
for f in $FILES; do run_wrk "direct CAS1" "http://$SRV1/$f" ""; done

cat > "$WORK/haproxy.cfg" <<HA
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind $APPL:80
  default_backend be
backend be
  balance roundrobin
  server CAS1 $SRV1:80
  server CAS2 $SRV2:80
HA
ip netns exec "$AP" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 & HA_PID=$!; PIDS+=("$HA_PID")
sleep 1
for f in $FILES; do run_wrk "haproxy tcp" "http://$APPL/$f" "$HA_PID"; done
kill -TERM "$HA_PID"; wait "$HA_PID" 2>/dev/null || true

for backend in $BACKENDS; do
  start_forwarder "$backend"
  # the client learns the VIP's MAC from exch-dsr's ARP answer
  ip netns exec "$CL" timeout 5 sh -c "until wget -q -O /dev/null -T 1 http://$VIP/1k.bin 2>/dev/null || curl -s -o /dev/null -m 1 http://$VIP/1k.bin; do sleep 0.2; done" || true
  for f in $FILES; do run_wrk "exch-dsr $backend" "http://$VIP/$f" "$FWD_PID"; done
  grep status "$WORK/exch-dsr-$backend.log" | tail -1 | sed "s/^/# $backend last status: /"
  stop_forwarder
done
