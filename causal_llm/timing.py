"""A timeline of where a run's wall time goes, for ``bench/lifecycle_breakdown.py``.

When ``CAUSAL_LLM_TIMELINE`` names a file, every process of a run appends one JSON line per
interval (``kind``: compute, process, dvc, mlflow, ray-start, ...); otherwise nothing is recorded.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager


def record(kind: str, node: str, start: float, end: float, **extra: object) -> None:
    path = os.environ.get("CAUSAL_LLM_TIMELINE")
    if not path:
        return
    line = json.dumps({"kind": kind, "node": node, "start": start, "end": end, "pid": os.getpid(), **extra})
    with open(path, "a", encoding="utf-8") as handle:  # one short O_APPEND write: lines never interleave
        handle.write(line + "\n")


def process_started_at(pid: int | str = "self") -> float:
    """When this process started (wall clock), to 10 ms: psutil's create_time rounds boot time to
    whole seconds, which is the size of what is being measured here."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return time.time() - age


@contextmanager
def timed(kind: str, node: str, **extra: object) -> Iterator[None]:
    start = time.time()
    try:
        yield
    finally:
        record(kind, node, start, time.time(), **extra)
