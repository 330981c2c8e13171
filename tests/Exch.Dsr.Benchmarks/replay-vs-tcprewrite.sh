#!/usr/bin/env bash
# Replay throughput: `exch-dsr replay` (a full forwarding decision per frame: parse, service lookup, connection
# and persistence tables, scheduling, MAC rewrite) next to `tcprewrite` (which only rewrites the MACs) on the same
# synthetic capture, in the same run. Prints frames per second for both and the ratio.
#
#   [RUNS=5] [TMPDIR=/tmp] [PUBLISHED=1] tests/Exch.Dsr.Benchmarks/replay-vs-tcprewrite.sh [FRAMES]     (default 5,000,000)
#
# PUBLISHED=1 times the appliance build instead of `dotnet exch-dsr.dll`: the self-contained single-file ReadyToRun
# executable the README publishes to /opt/exch-dsr (published here into the temporary directory; a few minutes).
#
# Needs: the .NET SDK, tcprewrite (Debian: apt-get install -y tcpreplay). Writes ~3 x 116 B x FRAMES to a temporary
# directory under ${TMPDIR:-/tmp} (about 1.8 GB for 5M frames), removed on exit.
# Method: each tool runs once to warm up the page cache (and to validate: every frame must be forwarded), then
# RUNS (default 5) timed runs each, alternating; the best wall time counts. exch-dsr's wall time includes the dotnet host's
# start-up and JIT, as any replay's does.
set -euo pipefail

FRAMES=${1:-5000000}
RUNS=${RUNS:-5}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

command -v tcprewrite >/dev/null || { echo "tcprewrite not found: apt-get install -y tcpreplay" >&2; exit 2; }

base=${TMPDIR:-/tmp}
need_mb=$(( FRAMES * 116 * 3 / 1000000 + 100 + ${PUBLISHED:-0} * 150 ))
avail_mb=$(df -Pm "$base" | awk 'NR == 2 { print $4 }')
df -h "$base"
if (( avail_mb < need_mb )); then
    echo "need ${need_mb} MB free in $base, have ${avail_mb} MB" >&2
    exit 2
fi

work=$(mktemp -d "$base/exch-dsr-replay.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== build (Release)"
dotnet build src/Exch.Dsr -c Release -nologo -v quiet
dotnet build tests/Exch.Dsr.Benchmarks -c Release -nologo -v quiet
if [[ "${PUBLISHED:-0}" == 1 ]]; then
    dotnet publish src/Exch.Dsr -c Release -r linux-x64 --self-contained -p:PublishSingleFile=true \
        -p:PublishReadyToRun=true -o "$work/published" -nologo -v quiet
    exch_dsr=("$work/published/exch-dsr")
    build="published: self-contained single file, ReadyToRun"
else
    exch_dsr=(dotnet src/Exch.Dsr/bin/Release/net10.0/exch-dsr.dll)
    build="dotnet exch-dsr.dll (JIT)"
fi
bench=(dotnet tests/Exch.Dsr.Benchmarks/bin/Release/net10.0/Exch.Dsr.Benchmarks.dll)
config=config/exch-dsr.toml
"${exch_dsr[@]}" replay --help >/dev/null

echo "== capture: $FRAMES frames"
"${bench[@]}" --make-capture "$work/in.pcap" "$FRAMES"
ls -l "$work/in.pcap"

# The MACs tcprewrite writes: a CAS's and the replay appliance's. (exch-dsr chooses the CAS per flow.)
dmac=02:00:00:00:10:01
smac=02:d5:00:00:00:01

run_exch_dsr() {
    rm -f "$work/exch.pcap"
    "${exch_dsr[@]}" replay --config "$config" "$work/in.pcap" --out "$work/exch.pcap" >"$work/exch.log" 2>&1
}

run_tcprewrite() {
    rm -f "$work/tcprewrite.pcap"
    tcprewrite --enet-dmac="$dmac" --enet-smac="$smac" -i "$work/in.pcap" -o "$work/tcprewrite.pcap" >"$work/tcprewrite.log" 2>&1
}

# Wall seconds of one run of "$@", to the nanosecond.
wall() {
    local start end
    start=$(date +%s%N)
    "$@"
    end=$(date +%s%N)
    echo "scale=3; ($end - $start) / 1000000000" | bc
}

echo "== warm-up and validation"
cat "$work/in.pcap" >/dev/null
run_exch_dsr
cat "$work/exch.log"
# Every frame must have been forwarded, or exch-dsr would be timed on less work than tcprewrite.
written=$(grep -Eo 'wrote [0-9,]+ frames' "$work/exch.log" | tr -dc '0-9')
if [[ "$written" != "$FRAMES" ]]; then
    echo "exch-dsr forwarded $written of $FRAMES frames: the capture does not match $config" >&2
    exit 1
fi
run_tcprewrite
in_size=$(stat -c %s "$work/in.pcap")
echo "input $in_size bytes; exch-dsr output $(stat -c %s "$work/exch.pcap") bytes; tcprewrite output $(stat -c %s "$work/tcprewrite.pcap") bytes"

best_exch=
best_tcprewrite=
for run in $(seq 1 "$RUNS"); do
    t=$(wall run_exch_dsr)
    echo "run $run: exch-dsr replay  ${t} s"
    if [[ -z "$best_exch" ]] || (( $(echo "$t < $best_exch" | bc) )); then best_exch=$t; fi
    t=$(wall run_tcprewrite)
    echo "run $run: tcprewrite       ${t} s"
    if [[ -z "$best_tcprewrite" ]] || (( $(echo "$t < $best_tcprewrite" | bc) )); then best_tcprewrite=$t; fi
done

exch_fps=$(echo "$FRAMES / $best_exch" | bc)
tcprewrite_fps=$(echo "$FRAMES / $best_tcprewrite" | bc)
ratio=$(echo "scale=2; $exch_fps / $tcprewrite_fps" | bc)
echo
echo "frames:              $FRAMES ($(( in_size / FRAMES )) bytes a frame in the file, record headers included)"
echo "exch-dsr replay:     best ${best_exch} s  = ${exch_fps} frames/s  ($build)"
echo "  (exch-dsr's own count of its replay loop, warm-up run, without process start-up: $(grep -Eo '[0-9,]+ frames/s' "$work/exch.log" | head -1))"
echo "tcprewrite:          best ${best_tcprewrite} s  = ${tcprewrite_fps} frames/s"
echo "ratio (exch-dsr / tcprewrite): ${ratio}x"
echo "machine: $(nproc) vCPU, $(uptime | sed 's/.*load average/load average/'), $(date -u '+%Y-%m-%d %H:%M UTC')"
