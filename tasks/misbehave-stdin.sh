#!/usr/bin/env bash
# Misbehaving script for the hardening tests: reads stdin until end of file, echoing each line ("got: <line>").
# Hive keeps stdin open for the whole run (it carries the `message` control action), so this script waits for
# messages until its timeout or a stop. With {"close": true} it closes its stdin first, then waits 3 s and exits 0:
# a message sent meanwhile cannot be delivered and must not disturb the node.
req="${1:-{\}}"
if printf '%s' "$req" | grep -qE '"close"[[:space:]]*:[[:space:]]*true'; then
  exec 0<&-
  echo "##hive {\"progress\": 0, \"stage\": \"closed\"}"
  sleep 3
  echo "stdin: closed and done"
  exit 0
fi
echo "##hive {\"progress\": 0, \"stage\": \"reading\"}"
while IFS= read -r line; do
  echo "got: $line"
done
echo "stdin: end of file"
