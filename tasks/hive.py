"""Helper for Hive task scripts written in Python (``import hive``; Hive puts tasks/ on PYTHONPATH).

A script receives ``{"requestId": "<taskId>", "action": <args>}`` as argv[1] and reports through
``##hive {json}`` lines on stdout, which Hive parses; every other line is plain output.

    import hive
    args = hive.args()
    hive.progress(10, "download")
    hive.result({"frames": 1200})

This module is a helper, not a task: the name ``hive`` is reserved and cannot be submitted.
"""

import json
import os
import sys

__all__ = ["request", "args", "task_id", "attempt", "work_dir", "progress", "result", "log", "messages"]

_PREFIX = "##hive "


def _emit(obj):
    sys.stdout.write(_PREFIX + json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n")
    sys.stdout.flush()


def request():
    """The whole argv[1] document: {"requestId": ..., "action": ...} ({} when run by hand without it)."""
    if len(sys.argv) < 2 or not sys.argv[1].strip():
        return {}
    return json.loads(sys.argv[1])


def args(default=None):
    """The task's args (the "action" member of argv[1]); ``default`` (or {}) when absent or null."""
    value = request().get("action")
    if value is None:
        return {} if default is None else default
    return value


def task_id():
    """The task id (HIVE_TASK_ID, else argv[1]'s requestId)."""
    return os.environ.get("HIVE_TASK_ID") or request().get("requestId")


def attempt():
    """The attempt number, 1 for the first run."""
    return int(os.environ.get("HIVE_ATTEMPT", "1"))


def work_dir():
    """The run's private working directory (also the current directory); removed after the run."""
    return os.environ.get("HIVE_WORK_DIR") or os.getcwd()


def progress(pct, stage=None):
    """Report progress in percent (0..100, clamped by Hive) and optionally the current stage name."""
    obj = {"progress": float(pct)}
    if stage is not None:
        obj["stage"] = str(stage)
    _emit(obj)


def result(obj):
    """Set the task's result object (any JSON value); the last one printed wins."""
    _emit({"result": obj})


def log(msg):
    """Print one output line (even one that would look like a ##hive line)."""
    _emit({"log": str(msg)})


def messages():
    """Yield each line written to the task's stdin by a "message" control action, parsed as JSON when possible."""
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        try:
            yield json.loads(line)
        except ValueError:
            yield line
