#!/usr/bin/env bash
# Misbehaving script for the hardening tests: starts processes meant to outlive it, reports their pids as the stage
# "pids:<child> <subshell> <grandchild> <nohup child> <daemon>", then exits with {"exit": N} (default 0) without
# waiting for any of them, or, with {"stay": true}, never ends. The daemon leaves the session (setsid -f) and is
# re-parented to init; the nohup child ignores SIGHUP.
req="${1:-{\}}"
code=$(printf '%s' "$req" | grep -oE '"exit"[[:space:]]*:[[:space:]]*[0-9]+' | head -n1 | grep -oE '[0-9]+$' || true)
code="${code:-0}"
dir="${HIVE_WORK_DIR:-$(mktemp -d)}"
sleep 300 &
child=$!
( sleep 300 & echo $! > "$dir/grandchild"; wait ) &
subshell=$!
nohup sleep 300 > /dev/null 2>&1 &
nohupped=$!
setsid -f sh -c 'echo $$ > "$1/daemon"; exec sleep 300' sh "$dir" < /dev/null > /dev/null 2>&1
for _ in $(seq 100); do
  [ -s "$dir/grandchild" ] && [ -s "$dir/daemon" ] && break
  sleep 0.05
done
echo "##hive {\"progress\": 50, \"stage\": \"pids:$child $subshell $(cat "$dir/grandchild") $nohupped $(cat "$dir/daemon")\"}"
if printf '%s' "$req" | grep -qE '"stay"[[:space:]]*:[[:space:]]*true'; then
  while :; do sleep 0.2; done
fi
echo "forker: exiting $code, children still running"
exit "$code"
