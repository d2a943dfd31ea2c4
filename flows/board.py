"""The run's DAG state: which nodes have finished, so each node's task waits for exactly its upstream.

The lifecycle runs every stage flow at once; a node's task starts when the nodes it reads from are
done (whichever stage flow ran them) and a slot of ``runtime.parallel`` is free. A node whose
upstream failed is not started; independent branches go on. A stage flow run on its own has no
board of the lifecycle: it makes one for its own nodes, whose inputs are taken as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any


class UpstreamFailed(RuntimeError):
    pass


class Board:
    """``upstream``: what each node waits for; ``parallel`` nodes that compute in their own process run
    at once; training nodes are not counted (Ray queues them on its CPUs)."""

    def __init__(
        self, upstream: dict[str, list[str]], parallel: int, trains: Iterable[str] = (), done: Iterable[str] = ()
    ) -> None:
        self.upstream = upstream
        self.trains = set(trains)
        self._slots = asyncio.Semaphore(parallel)
        self._events = {node: asyncio.Event() for node in upstream}
        self.failed: set[str] = set()
        for node in done:
            self.finish(node, ok=True)

    async def wait_for_upstream(self, node: str) -> None:
        for up in self.upstream[node]:
            if up in self._events:
                await self._events[up].wait()
                if up in self.failed:
                    raise UpstreamFailed(f"{node} not run: {up} failed")

    def slot(self, node: str) -> Any:
        """The concurrency slot a node runs in (none for a training node: Ray schedules those)."""
        return contextlib.nullcontext() if node in self.trains else self._slots

    def finish(self, node: str, ok: bool) -> None:
        if not ok:
            self.failed.add(node)
        self._events[node].set()


BOARD: ContextVar[Board | None] = ContextVar("causal_llm_board", default=None)
