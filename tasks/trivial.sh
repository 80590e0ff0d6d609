#!/usr/bin/env bash
# Exits 0 at once (benchmarks: per-task overhead).
exit 0
