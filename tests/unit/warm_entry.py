"""Entry points the warm-runner tests have the server run (importable as ``tests.unit.warm_entry``)."""

from __future__ import annotations

import json
import os
import sys
import time


def report(argv: list[str]) -> int:
    """Prints what the child sees: arguments, working folder, an environment variable, its pid."""
    print(
        json.dumps({"argv": argv, "cwd": os.getcwd(), "marker": os.environ.get("WARM_TEST_MARKER"), "pid": os.getpid()})
    )
    print("to stderr", file=sys.stderr)
    return int(argv[0]) if argv and argv[0].isdigit() else 0


def sleep(argv: list[str]) -> int:
    print(os.getpid(), flush=True)
    time.sleep(float(argv[0]))
    return 0
