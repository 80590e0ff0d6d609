#!/usr/bin/env bash
# Misbehaving script for the hardening tests: looks for what a task should not reach and prints what it found —
# its user, whether it can write into tasks/, the node's command line and environment (/proc/$PPID: the node is its
# parent), its own environment — then reports its working folder as the stage "dir:<path>" and sleeps {"seconds": N}
# (default 5) so a test can inspect that folder.
req="${1:-{\}}"
seconds=$(printf '%s' "$req" | grep -oE '"seconds"[[:space:]]*:[[:space:]]*[0-9.]+' | head -n1 | grep -oE '[0-9.]+$' || true)
echo "uid=$(id -u) gid=$(id -g) user=$(id -un)"
if echo "secret of ${HIVE_TASK_ID:-?}" > "${HIVE_WORK_DIR:-.}/secret"; then echo "workdir: writable"; else echo "workdir: read-only"; fi
if touch "${HIVE_TASKS_DIR:-.}/.peek-$$" 2> /dev/null; then
  rm -f "${HIVE_TASKS_DIR:-.}/.peek-$$"
  echo "tasks: writable"
else
  echo "tasks: read-only"
fi
echo "ignored signals: $(grep SigIgn /proc/self/status)"
echo "node cmdline: $( { tr '\0' ' ' < "/proc/$PPID/cmdline"; } 2>&1)"
echo "node environ: $( { tr '\0' ' ' < "/proc/$PPID/environ"; } 2>&1)"
echo "own env: $(env | tr '\n' ' ')"
echo "##hive {\"progress\": 50, \"stage\": \"dir:${HIVE_WORK_DIR:-}\"}"
sleep "${seconds:-5}"
