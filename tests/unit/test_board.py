"""The lifecycle's DAG board: nodes wait for their upstream, and training jobs for their Ray CPUs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

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
        ({"x": 3, "y": 3, "z": 3}, "", None, 1),  # wider than the machine: alone, not never
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


def test_the_plan_gives_training_nodes_their_ray_job_and_the_others_their_threads(tmp_path, monkeypatch):
    import os

    from causal_llm.ops.nodes import node_plan

    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["runtime"] = {"parallel": 1}
    params["pretrain"]["ray"] = {**params["pretrain"].get("ray", {}), "num_workers": 2, "cpus_per_worker": 1}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    plan = {n["id"]: n for n in node_plan(str(tmp_path / "params.yaml"))}
    assert plan["pretrain/baseline"]["on_ray"] and plan["pretrain/baseline"]["cpus"] == 2
    assert not plan["testbed"]["on_ray"] and plan["testbed"]["cpus"] == 4
    assert plan["finetune/sft"]["upstream"]


def test_a_node_whose_flow_never_ran_it_fails_its_downstream_instead_of_hanging():
    async def scenario() -> BaseException | None:
        board = Board({"a": [], "b": ["a"]}, {}, local_cpus=1)
        waiting = asyncio.create_task(board.wait_for_upstream("b"))
        await asyncio.sleep(0)
        board.abandon(["a"])  # a's stage flow ended (it failed to start) without finishing a
        try:
            await asyncio.wait_for(waiting, 5)
        except UpstreamFailed as err:
            return err
        return None

    assert isinstance(run(scenario()), UpstreamFailed)
