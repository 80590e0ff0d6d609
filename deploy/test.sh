#!/usr/bin/env bash
# Runs Hive's whole test suite on a fresh Debian machine: installs what is missing, builds,
# and runs the tests. The tests start their own redis-server and rabbitmq-server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/install-test-deps.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_HOSTBUILDER__RELOADCONFIGONCHANGE=false
dotnet build Hive.sln -c Release -nologo -v q
log=$(mktemp)
set +e
# Soak tests (bench/soak) are long and opt-in; any arguments given replace this default filter.
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--filter "Category!=Soak")
dotnet test Hive.sln -c Release --no-build -nologo "${args[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
