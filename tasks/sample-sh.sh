#!/usr/bin/env bash
# Demo task in shell (script name "sample-sh"; "sample" is the Python one): args {"steps": 5, "delay": 0.2}; prints a line and a progress line per step.
set -euo pipefail
req="${1:-{\}}"
num() { # first number following "key": in argv[1], or the default
  local v
  v=$(printf '%s' "$req" | grep -oE "\"$1\"[[:space:]]*:[[:space:]]*[0-9.]+" | head -n1 | grep -oE '[0-9.]+$' || true)
  printf '%s' "${v:-$2}"
}
steps=$(num steps 5)
delay=$(num delay 0.2)
echo "sample-sh: task ${HIVE_TASK_ID:-?} attempt ${HIVE_ATTEMPT:-1}: $steps steps"
for ((i = 1; i <= steps; i++)); do
  sleep "$delay"
  echo "step $i/$steps"
  echo "##hive {\"progress\": $((100 * i / steps)), \"stage\": \"work\"}"
done
echo "##hive {\"result\": {\"steps\": $steps}}"
