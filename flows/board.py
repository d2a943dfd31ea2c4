"""The run's DAG state: which nodes have finished, so each node's task waits for exactly its upstream.

The lifecycle runs every stage flow at once; a node's task starts when the nodes it reads from are
done (whichever stage flow ran them) and its CPUs are free: a node that computes in its own
process takes its torch threads, a training node its Ray Train job's ``num_workers`` x
``cpus_per_worker``. When the Ray instance is the run's own, both come out of one pool, the
machine's cores: torch's threads spin while they wait for each other, so a core given twice slows
both jobs far more than twice. No job waits inside Ray either (Ray Train fails a job whose workers
wait more than a minute for resources). A node whose upstream failed is
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
    """CPUs as the board hands them out: a node waits until all of its CPUs are free."""

    def __init__(self, cpus: int) -> None:
        self.total = self.free = cpus
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def take(self, cpus: int) -> AsyncIterator[None]:
        cpus = min(cpus, self.total)  # a node wider than the pool runs alone rather than never
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
    """``upstream``: what each node waits for; ``cpus``: the CPUs each node takes while it runs, out
    of ``local_cpus`` (nodes computing here) or, for ``on_ray`` nodes on a Ray cluster of its own,
    ``ray_cpus`` (``None``: the run's Ray instance shares this machine's pool)."""

    def __init__(
        self,
        upstream: dict[str, list[str]],
        cpus: Mapping[str, int],
        local_cpus: int,
        on_ray: Iterable[str] = (),
        ray_cpus: int | None = None,
        done: Iterable[str] = (),
    ) -> None:
        self.upstream = upstream
        self.cpus = dict(cpus)
        self.on_ray = set(on_ray)
        self._local = CpuPool(local_cpus)
        self._ray = self._local if ray_cpus is None else CpuPool(ray_cpus)
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
        """Room for a node: its CPUs, from Ray's pool for a training node, this machine's for the others."""
        return (self._ray if node in self.on_ray else self._local).take(self.cpus.get(node, 1))

    def finish(self, node: str, ok: bool) -> None:
        if not ok:
            self.failed.add(node)
        self._events[node].set()

    def abandon(self, nodes: Iterable[str]) -> None:
        """Nodes whose flow ended without finishing them (it failed to start, say) count as failed, so
        nothing downstream waits for them forever."""
        for node in nodes:
            if node in self._events and not self._events[node].is_set():
                self.finish(node, ok=False)


BOARD: ContextVar[Board | None] = ContextVar("causal_llm_board", default=None)
