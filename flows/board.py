"""The run's DAG state: which nodes have finished, so each node's task waits for exactly its upstream.

The lifecycle runs every stage flow at once; a node's task starts when the nodes it reads from are
done (whichever stage flow ran them) and there is room for it: ``runtime.parallel`` nodes that
compute in their own process, and training nodes while their Ray Train jobs (``num_workers`` x
``cpus_per_worker`` CPUs) fit in the Ray instance's CPUs, so no job waits inside Ray (Ray Train
fails a job whose workers wait more than a minute for resources). A node whose upstream failed is
not started; independent branches go on. A stage flow run on its own has no board of the
lifecycle: it makes one for its own nodes, whose inputs are taken as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from contextvars import ContextVar


class UpstreamFailed(RuntimeError):
    pass


class CpuPool:
    """Ray's CPUs as the board hands them out: a job waits until all of its CPUs are free."""

    def __init__(self, cpus: int) -> None:
        self.free = cpus
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def take(self, cpus: int) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self.free >= cpus)
            self.free -= cpus
        try:
            yield
        finally:
            async with self._changed:
                self.free += cpus
                self._changed.notify_all()


class Board:
    """``upstream``: what each node waits for; ``parallel``: nodes computing in their own process at
    once; ``trains``: each training node's CPUs on Ray, out of ``ray_cpus``."""

    def __init__(
        self,
        upstream: dict[str, list[str]],
        parallel: int,
        trains: Mapping[str, int] | None = None,
        ray_cpus: int = 1,
        done: Iterable[str] = (),
    ) -> None:
        self.upstream = upstream
        self.trains = dict(trains or {})
        self._slots = asyncio.Semaphore(parallel)
        self._cpus = CpuPool(ray_cpus)
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

    def slot(self, node: str) -> contextlib.AbstractAsyncContextManager:
        """Room for a node: its Ray CPUs for a training node, a ``parallel`` slot for the others."""
        return self._cpus.take(self.trains[node]) if node in self.trains else self._slots

    def finish(self, node: str, ok: bool) -> None:
        if not ok:
            self.failed.add(node)
        self._events[node].set()


BOARD: ContextVar[Board | None] = ContextVar("causal_llm_board", default=None)
