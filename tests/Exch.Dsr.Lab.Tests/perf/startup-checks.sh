#!/usr/bin/env bash
# The start-up checks of `exch-dsr run` and their messages (no load): GRO on, GRO off (stopped after 3 s), interface
# down. One namespace with a veth pair, deleted on exit. Needs root, ethtool, a Release build.
set -u
NS=xperf-st-$$; D=$(mktemp -d /tmp/xperf-st.XXXX)
trap 'ip netns del $NS 2>/dev/null; rm -rf $D' EXIT
ip netns add $NS; ip -n $NS link set lo up
ip -n $NS link add eth0 type veth peer name eth1
ip -n $NS addr add 10.203.9.2/24 dev eth0; ip -n $NS link set eth0 up; ip -n $NS link set eth1 up
cat > $D/c.toml <<T
[appliance]
interface = "eth0"
backend = "ring"
own-vips = true
[control]
socket = "$D/c.sock"
http = "off"
[[server]]
name = "CAS1"
address = "10.203.9.11"
mac = "02:00:00:00:00:11"
[[service]]
name = "http"
vip = "10.203.9.100"
ports = [80]
[service.check]
kind = "none"
T
DLL=$(cd "$(dirname "$0")/../../.." && pwd)/src/Exch.Dsr/bin/Release/net10.0/exch-dsr.dll
ip netns exec $NS ethtool -K eth0 gro on >/dev/null 2>&1
echo "--- GRO on:"; timeout 20 ip netns exec $NS dotnet $DLL run --config $D/c.toml; echo "exit code $?"
ip netns exec $NS ethtool -K eth0 gro off lro off >/dev/null 2>&1
echo "--- GRO off (stopped after 3 s):"; timeout -s INT 3 ip netns exec $NS dotnet $DLL run --config $D/c.toml --status-interval 1; echo "exit code $?"
echo "--- down:"; ip -n $NS link set eth0 down; timeout 20 ip netns exec $NS dotnet $DLL run --config $D/c.toml; echo "exit code $?"
