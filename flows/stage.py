"""The shape every stage flow shares: a DAG of one task per node of the stage.

Each task waits for the nodes it starts from (``flows.board``), then DVC decides whether the node
re-runs and runs it, and the node's MLflow child run is logged. Independent nodes run at once.
"""

import asyncio

from prefect import Flow, flow

from causal_llm.ops.nodes import node_plan
from causal_llm.tracking import resolve_tracking_uri
from flows.board import BOARD, Board, UpstreamFailed
from tasks.nodes import run_node
from tasks.tracking import end_parent_run, open_parent_run


def make_stage_flow(stage: str, description: str) -> Flow:
    @flow(name=stage, description=description, log_prints=True)
    async def stage_flow(
        parent_run_id: str | None = None,
        experiment: str = "causal-llm",
        tracking_uri: str | None = None,
        force: bool = False,
    ) -> dict[str, bool]:
        """Returns, per node of the stage, whether DVC ran it (False: up to date, skipped).

        Args:
            parent_run_id: the lifecycle's MLflow run; empty when the stage is started on its own
                (Prefect UI, schedule), which then logs under a run of its own.
            experiment: MLflow experiment.
            tracking_uri: MLflow tracking URI; empty means MLFLOW_TRACKING_URI or mlflow/mlflow.db.
            force: re-run even when DVC finds a node's inputs unchanged (re-evaluation).
        """
        uri = resolve_tracking_uri(tracking_uri)
        plan = node_plan()
        nodes = [n["id"] for n in plan if n["stage"] == stage]
        board = BOARD.get()
        own_parent = None
        if board is None:  # on its own: the params node first, this stage's nodes after their own upstream
            await run_node("params", None, uri, experiment)
            upstream = {n["id"]: [u for u in n["upstream"] if u in nodes] for n in plan if n["id"] in nodes}
            # One node at a time: on its own the stage does not know the machine or cluster it shares.
            board = Board(upstream, {}, local_cpus=1)
            own_parent = parent_run_id = parent_run_id or open_parent_run(uri, experiment, stage, run_type="stage")

        async def one(node: str) -> bool:
            ok = False
            try:
                await board.wait_for_upstream(node)
                async with board.slot(node):
                    ran = await run_node(node, parent_run_id, uri, experiment, force)
                ok = True
                return ran
            finally:
                board.finish(node, ok)

        outcomes = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
        failed = {n: o for n, o in zip(nodes, outcomes, strict=True) if isinstance(o, BaseException)}
        if own_parent:
            end_parent_run(uri, experiment, own_parent, "FAILED" if failed else "FINISHED")
        if failed:  # every independent node has finished; the stage reports what did not
            raise RuntimeError(
                f"stage {stage}: "
                + "; ".join(str(o) if isinstance(o, UpstreamFailed) else f"{n} failed: {o}" for n, o in failed.items())
            )
        return dict(zip(nodes, outcomes, strict=True))

    return stage_flow
