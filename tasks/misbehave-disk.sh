#!/usr/bin/env bash
# Misbehaving script for the hardening tests: writes zeros into its working folder until the disk is full (ENOSPC),
# reports "full", keeps the disk full for {"hold": N} seconds (default 0), then exits with head's failure (1).
set -u
req="${1:-{\}}"
hold=$(printf '%s' "$req" | grep -oE '"hold"[[:space:]]*:[[:space:]]*[0-9.]+' | head -n1 | grep -oE '[0-9.]+$' || true)
echo "disk: filling $HIVE_WORK_DIR"
head -c 100G /dev/zero > "$HIVE_WORK_DIR/fill"
status=$?
echo "##hive {\"progress\": 50, \"stage\": \"full\"}"
sleep "${hold:-0}"
exit "$status"
