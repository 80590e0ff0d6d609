#!/usr/bin/env bash
# Sleeps {"seconds": N} (default 60) in a background grandchild `sleep`, so stop/pause tests can check the
# whole tree is signalled. Prints the grandchild's pid as a ##hive stage for tests.
req="${1:-{\}}"
seconds=$(printf '%s' "$req" | grep -oE '"seconds"[[:space:]]*:[[:space:]]*[0-9.]+' | head -n1 | grep -oE '[0-9.]+$')
seconds="${seconds:-60}"
sleep "$seconds" &
child=$!
echo "sleep.sh: sleeping ${seconds}s in pid $child"
echo "##hive {\"progress\": 0, \"stage\": \"sleeping:$child\"}"
wait "$child"
echo "##hive {\"progress\": 100, \"stage\": \"done\"}"
