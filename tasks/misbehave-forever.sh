#!/usr/bin/env bash
# Misbehaving script for the hardening tests: never ends (a tick every 0.2 s); only a timeout or a stop ends it.
echo "##hive {\"progress\": 0, \"stage\": \"forever\"}"
while :; do
  echo "tick"
  sleep 0.2
done
