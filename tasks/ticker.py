#!/usr/bin/env python3
"""Prints a counter every {"interval": 0.05} s with a ##hive progress line, {"ticks": 100} times (tests: pause / resume)."""
import time

import hive

a = hive.args()
ticks = int(a.get("ticks", 100))
interval = float(a.get("interval", 0.05))

for i in range(1, ticks + 1):
    print(f"tick {i}", flush=True)
    hive.progress(100.0 * i / ticks, "ticking")
    time.sleep(interval)
hive.result({"ticks": ticks})
