"""The main job: every stage flow at once over one DAG of nodes, one MLflow parent run, one Ray
instance, the results table, the registry's candidate/champion decision, and a comparison with the
previous run.

Entry points: ``causal-llm run``, ``python -m flows.lifecycle``, the Prefect UI (its run form is this
signature) and the schedules in ``flows/deployments.py``.
"""

import asyncio
import os
from typing import Any, Literal

from prefect import flow

from causal_llm.ops.forms import data_methods, infer_methods, profile_choices
from causal_llm.ops.nodes import current_lifecycle, node_plan
from causal_llm.tracking import NO_TRACKING, resolve_tracking_uri
from flows.align import align_flow
from flows.benchmarks import benchmarks_flow
from flows.board import BOARD, Board
from flows.compare import compare_flow
from flows.data import data_flow
from flows.evaluate import evaluate_flow
from flows.finetune import finetune_flow
from flows.infer import infer_flow
from flows.pretrain import pretrain_flow
from flows.register import register_flow
from flows.report import report_flow
from tasks.dvc import push_data
from tasks.nodes import run_node
from tasks.params import check_services, form_overrides, prepare_params
from tasks.runtime import (
    share_cpus_between_nodes,
    start_ray_instance,
    start_warm_runner,
    stop_ray_instance,
    stop_warm_runner,
)
from tasks.tracking import end_parent_run, open_parent_run, previous_lifecycle_run

STAGE_FLOWS = (
    data_flow,
    benchmarks_flow,
    pretrain_flow,
    finetune_flow,
    align_flow,
    infer_flow,
    evaluate_flow,
    report_flow,
)
# The run form's choices, from params.yaml's profiles and the method registries (tests keep them equal).
Profile = Literal[profile_choices()]  # type: ignore[valid-type]
Augmenter = Literal[data_methods()]  # type: ignore[valid-type]
Strategy = Literal[infer_methods()]  # type: ignore[valid-type]


async def run_stages(lc, parent: str, uri: str, experiment: str, force: bool, ray_cpus: int | None) -> None:  # noqa: ANN001
    """The params node, then every stage flow at once; each node waits for its upstream and its CPUs."""
    plan = node_plan()
    cpus = {n["id"]: n["cpus"] for n in plan}
    on_ray = [n["id"] for n in plan if n["on_ray"]]
    board = Board({n["id"]: n["upstream"] for n in plan}, cpus, os.cpu_count() or 1, on_ray, ray_cpus)
    token = BOARD.set(board)
    try:
        await run_node("params", parent, uri, experiment, force)
        board.finish("params", ok=True)
        common = {"parent_run_id": parent, "experiment": experiment, "tracking_uri": uri, "force": force}

        async def stage(f):  # noqa: ANN001, ANN202
            try:
                return await f(**common, return_state=True)
            finally:
                board.abandon(n["id"] for n in plan if n["stage"] == f.name)

        states = await asyncio.gather(*(stage(f) for f in STAGE_FLOWS))
    finally:
        BOARD.reset(token)
    failed = [f.name for f, s in zip(STAGE_FLOWS, states, strict=True) if not s.is_completed()]
    if failed:
        raise RuntimeError(f"stages failed: {', '.join(failed)} (their nodes' logs say why)")


@flow(name="lifecycle", log_prints=True)
async def lifecycle(
    profile: Profile = "smoke",
    base_model: str | None = None,
    augmenter: Augmenter | None = None,
    prompting_strategies: list[Strategy] | None = None,
    benchmarks: list[str] | None = None,
    seed: int | None = None,
    overrides: dict[str, Any] | None = None,
    experiment: str = "causal-llm",
    force: bool = False,
    push: bool = True,
    params_file: str = "params.yaml",
    tracking_uri: str | None = None,
) -> str:
    """Run every node of the lifecycle (data -> pretrain -> finetune -> align -> infer -> evaluate ->
    report), then register the models; returns the results path.

    Args:
        profile: smoke (tiny models, about 3 min on 2 CPUs) or default (SmolLM2-135M, about 36 min).
        base_model: the model fine-tuning starts from (finetune.defaults.from): smollm2-135m-instruct,
            pretrain/baseline, a folder or a Hugging Face id. Empty keeps params.yaml's.
        augmenter: a data method to add as a variant named after it, with a pre-training variant on it.
        prompting_strategies: the inference variants, one per strategy. Empty keeps params.yaml's.
        benchmarks: evaluation benchmarks: cladder_gen, corr2cause_gen, testbed_probes or FORMAT:PATH.
        seed: one seed for data, training and bootstrap. Empty keeps params.yaml's.
        overrides: any other params, as in params.yaml, e.g. {"pretrain": {"ray": {"num_workers": 2}}}.
        experiment: MLflow experiment the runs go to.
        force: re-run every node even when DVC finds its inputs unchanged.
        push: push data and models to the DVC remote at the end.
        params_file: the params file the run starts from.
        tracking_uri: MLflow tracking URI; empty means MLFLOW_TRACKING_URI or mlflow/mlflow.db, `none` no MLflow.
    """
    uri = resolve_tracking_uri(tracking_uri)
    check_services(uri)
    choices = {"base_model": base_model, "augmenter": augmenter, "prompting_strategies": prompting_strategies}
    chosen = form_overrides(params_file, profile, {**choices, "benchmarks": benchmarks, "seed": seed}, overrides)
    prepare_params(params_file, profile, chosen)  # every input checked before anything starts
    lc = current_lifecycle()
    share_cpus_between_nodes(lc.params.runtime.parallel)
    previous = previous_lifecycle_run(uri, experiment)
    warm = start_warm_runner()  # imports the stack in the background while Ray starts
    parent = None
    try:
        ray_cpus = start_ray_instance()  # None: the run's own instance, on this machine's cores
        parent = open_parent_run(uri, experiment, f"lifecycle-{profile}")
        await run_stages(lc, parent, uri, experiment, force, ray_cpus)
        if uri != NO_TRACKING:
            register_flow(parent_run_id=parent, experiment=experiment, tracking_uri=uri)
        if push:
            push_data()
    except BaseException:
        if parent is not None:
            end_parent_run(uri, experiment, parent, "FAILED")
        raise
    finally:
        stop_ray_instance()
        stop_warm_runner(warm)
    end_parent_run(uri, experiment, parent, "FINISHED")
    if previous:  # what changed since the last finished run, with warnings when scorers or data differ
        state = compare_flow(experiment=experiment, run_ids=[previous, parent], tracking_uri=uri, return_state=True)
        if state.is_failed():  # the run itself succeeded; a comparison that cannot be made is reported
            print(f"comparison with the previous run {previous} failed: {state.message}")
    return "reports/lifecycle/results.json"


if __name__ == "__main__":
    asyncio.run(lifecycle())
