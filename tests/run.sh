#!/usr/bin/env bash
# Runs every test project of exch-dsr. On a fresh machine it installs what the tests need first
# (Debian packages with apt-get when root). The last line is "N passed, N failed, N skipped";
# the exit code is non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# tshark/editcap check replayed captures, tcprewrite is the replay benchmark's yardstick,
# libpcap0.8 is the live capture backend; the namespace lab needs iproute2 and ethtool to build its hosts, and
# nginx, socat, openssl, curl and ping to play the real servers and the client, keepalived for the active/passive pair.
packages=(libpcap0.8 tshark tcpreplay iproute2 ethtool nginx socat openssl curl iputils-ping nftables keepalived chromium)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "tests/run.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Installing nginx would start a system nginx on this host's port 80; the lab runs its own instances
        # inside namespaces, so no package may start a service here (policy-rc.d exit 101 = "not allowed").
        policy=/usr/sbin/policy-rc.d
        own_policy=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
        fi
        installed=0
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || installed=$?
        [ "$own_policy" = 0 ] || rm -f "$policy"
        [ "$installed" = 0 ] || { echo "tests/run.sh: apt-get failed to install ${missing[*]}" >&2; exit "$installed"; }
    fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

dotnet restore Exch.Dsr.sln --verbosity quiet
dotnet build Exch.Dsr.sln -c Release --no-restore --verbosity quiet -nologo
set +e
dotnet test Exch.Dsr.sln -c Release --no-build --verbosity quiet \
    --logger "trx" --logger "console;verbosity=minimal" --results-directory "$results"
status=$?
set -e

passed=0 failed=0 skipped=0 files=0
for trx in "$results"/*.trx; do
    [ -e "$trx" ] || continue
    files=$((files + 1))
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
    attr() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
    passed=$((passed + $(attr passed)))
    failed=$((failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted)))
    skipped=$((skipped + $(attr notExecuted)))
done
if [ "$files" -eq 0 ] || [ $((passed + failed)) -eq 0 ]; then
    echo "tests/run.sh: no test results were produced" >&2
    [ "$status" -ne 0 ] || status=1
fi
[ "$failed" -eq 0 ] || [ "$status" -ne 0 ] || status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
