"""The lifecycle's DAG board: nodes wait for their upstream, and training jobs for their Ray CPUs."""

from __future__ import annotations

import asyncio

import pytest

from flows.board import Board, UpstreamFailed


def run(coro):
    return asyncio.run(coro)


def test_a_node_waits_for_exactly_its_upstream_and_a_failure_stops_only_its_branch():
    async def scenario() -> list[str]:
        board = Board({"a": [], "b": ["a"], "c": ["b"], "d": []}, {}, local_cpus=4)
        order: list[str] = []

        async def node(name: str, ok: bool = True) -> None:
            try:
                await board.wait_for_upstream(name)
                order.append(name)
            finally:
                board.finish(name, ok and name in order)

        results = await asyncio.gather(node("c"), node("b", ok=False), node("a"), node("d"), return_exceptions=True)
        assert isinstance(results[0], UpstreamFailed) and "c not run: b failed" in str(results[0])
        return order

    assert run(scenario()) == ["a", "d", "b"]


@pytest.mark.parametrize(
    ("cpus", "on_ray", "ray_cpus", "expected_peak"),
    [
        ({"x": 2, "y": 2, "z": 2}, "xyz", None, 1),  # 2-CPU jobs on 2 cores: one at a time
        ({"x": 1, "y": 1, "z": 1}, "xyz", None, 2),
        ({"x": 2, "y": 1, "z": 1}, "x", None, 2),  # a job and the local nodes share the machine's cores
        ({"x": 2, "y": 1, "z": 1}, "x", 2, 3),  # a cluster elsewhere: its CPUs are its own
    ],
)
def test_nodes_share_the_cpus(cpus, on_ray, ray_cpus, expected_peak):
    async def scenario() -> int:
        board = Board({n: [] for n in "xyz"}, cpus, local_cpus=2, on_ray=on_ray, ray_cpus=ray_cpus)
        running, peak = 0, 0

        async def job(name: str) -> None:
            nonlocal running, peak
            async with board.slot(name):
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.01)
                running -= 1

        await asyncio.gather(*(job(n) for n in "xyz"))
        return peak

    assert run(scenario()) == expected_peak
