#!/usr/bin/env bash
# One command on a fresh Debian machine: installs and starts Redis + RabbitMQ locally, builds Hive,
# starts a node in the background (log: .hive/node.log) and runs the demo task, printing its progress.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash deploy/start-brokers.sh
mkdir -p .hive
if [ -f .hive/node.pid ] && kill -0 "$(cat .hive/node.pid)" 2>/dev/null; then
  echo "demo: a node is already running (pid $(cat .hive/node.pid))"
else
  ./hive --help >/dev/null   # builds on first use
  nohup ./hive node --guides 4 > .hive/node.log 2>&1 &
  echo $! > .hive/node.pid
  for _ in $(seq 1 120); do grep -q "Application started" .hive/node.log 2>/dev/null && break; sleep 0.5; done
  grep -q "Application started" .hive/node.log || { echo "demo: the node did not start; see .hive/node.log" >&2; exit 1; }
  echo "demo: node started (pid $(cat .hive/node.pid), log .hive/node.log)"
fi
echo "demo: submitting tasks/sample.py and following its progress"
./hive submit sample --args '{"steps": 10, "delay": 0.3}' --watch
echo "demo: done. The node keeps running: ./hive submit sample --watch | ./hive status ID | kill \$(cat .hive/node.pid)"
