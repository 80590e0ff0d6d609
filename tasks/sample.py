#!/usr/bin/env python3
"""Demo task: {"steps": 10, "delay": 0.2} → prints a line and progress per step, then a result."""
import time

import hive

a = hive.args()
steps = int(a.get("steps", 10))
delay = float(a.get("delay", 0.2))

print(f"sample: task {hive.task_id()} attempt {hive.attempt()}, {steps} steps of {delay}s", flush=True)
for i in range(1, steps + 1):
    time.sleep(delay)
    print(f"step {i}/{steps}", flush=True)
    hive.progress(100.0 * i / steps, "work")
hive.result({"steps": steps, "ok": True})
