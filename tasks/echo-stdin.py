#!/usr/bin/env python3
"""Echoes every stdin line back as an output line (the "message" control action); {"max": N} stops after N lines."""
import sys

import hive

limit = int(hive.args().get("max", 0))
print("echo-stdin: ready", flush=True)
count = 0
for line in sys.stdin:
    count += 1
    print("echo: " + line.rstrip("\n"), flush=True)
    hive.progress(0, f"messages:{count}")
    if limit and count >= limit:
        break
hive.result({"messages": count})
