#!/usr/bin/env bash
# Misbehaving script for the hardening tests: prints {"mb": N} MiB of output (default 100) as fast as it can, then
# exits 0. {"mode": "lines"} (default) prints 100-byte lines; {"mode": "noline"} prints it all as ONE line, no newline.
set -eu
req="${1:-{\}}"
mb=$(printf '%s' "$req" | grep -oE '"mb"[[:space:]]*:[[:space:]]*[0-9]+' | head -n1 | grep -oE '[0-9]+$' || true)
mb="${mb:-100}"
bytes=$((mb * 1024 * 1024))
if printf '%s' "$req" | grep -qE '"mode"[[:space:]]*:[[:space:]]*"noline"'; then
  head -c "$bytes" /dev/zero | tr '\0' 'x'
  echo
else
  # 100 bytes per line; `yes` ends on SIGPIPE when head has printed enough (no pipefail on purpose).
  yes "flood $(printf '%093d' 0)" | head -c "$bytes"
  echo
fi
echo "flood: done ${mb} MiB"
