#!/usr/bin/env bash
# Misbehaving script for the hardening tests: ignores SIGTERM, SIGINT and SIGHUP (and so do its children, which
# inherit the ignored dispositions), so a stop or a timeout has to end it with SIGKILL after the grace period.
trap '' TERM INT HUP
sleep 300 &
child=$!
echo "##hive {\"progress\": 0, \"stage\": \"ignoring:$child\"}"
while :; do
  sleep 0.2
done
