"""The main job: every lifecycle stage in order, one MLflow parent run, the comparison table, the
registry's candidate/champion decision, and a comparison with the previous run.

Entry points: ``causal-llm run``, ``python -m flows.lifecycle``, the Prefect UI (its run form is this
signature) and the schedules in ``flows/deployments.py``.
"""

from typing import Any, Literal

from prefect import flow

from causal_llm.tracking import resolve_tracking_uri
from flows.align import align_flow
from flows.benchmarks import benchmarks_flow
from flows.compare import compare_flow
from flows.data import data_flow
from flows.evaluate import evaluate_flow
from flows.finetune import finetune_flow
from flows.infer import infer_flow
from flows.pretrain import pretrain_flow
from flows.register import register_flow
from flows.report import report_flow
from tasks.dvc import push_data
from tasks.params import prepare_params
from tasks.tracking import end_parent_run, previous_lifecycle_run, start_parent_run

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
# The run form's choices; tests/unit/test_deployments.py keeps them equal to the registries.
Profile = Literal["smoke", "default"]
Augmenter = Literal["cda_two_sided", "cds", "none"]
Strategy = Literal["direct", "causal_graph"]


@flow(name="lifecycle", log_prints=True)
def lifecycle(
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
) -> str:
    """Run every stage (data -> benchmarks -> pretrain -> ... -> report -> register); returns the results path.

    Args:
        profile: smoke (tiny models, about 2 min on 2 CPUs) or default (SmolLM2-135M, about 17 min).
        base_model: model that fine-tuning starts from: smollm2-135m-instruct, pretrain:baseline, a folder
            or a Hugging Face id. Empty keeps params.yaml's.
        augmenter: the counterfactual data method the causal variants train on (cda_two_sided, cds, none).
        prompting_strategies: inference strategies to compare (direct, causal_graph).
        benchmarks: evaluation benchmarks: cladder_gen, corr2cause_gen, testbed_probes or FORMAT:PATH.
        seed: one seed for data, training and bootstrap. Empty keeps params.yaml's.
        overrides: any other params, as in params.yaml, e.g. {"pretrain": {"num_workers": 2}}.
        experiment: MLflow experiment the runs go to.
        force: re-run every stage even when DVC finds its inputs unchanged.
        push: push data and models to the DVC remote at the end.
        params_file: the params file the run starts from.
    """
    from causal_llm.pipeline import run_overrides

    tracking_uri = resolve_tracking_uri()
    chosen = run_overrides(base_model, augmenter, prompting_strategies, benchmarks, seed, overrides)
    prepare_params(params_file, profile, chosen)
    previous = previous_lifecycle_run(tracking_uri, experiment)
    parent = start_parent_run(tracking_uri, experiment, f"lifecycle-{profile}")
    try:
        for stage_flow in STAGE_FLOWS:
            stage_flow(parent_run_id=parent, experiment=experiment, tracking_uri=tracking_uri, force=force)
        register_flow(parent_run_id=parent, experiment=experiment, tracking_uri=tracking_uri)
        if push:
            push_data()
    except BaseException:
        end_parent_run(tracking_uri, experiment, parent, "FAILED")
        raise
    end_parent_run(tracking_uri, experiment, parent, "FINISHED")
    if previous:  # what changed since the last finished run, with warnings when scorers or data differ
        state = compare_flow(
            experiment=experiment, run_ids=[previous, parent], tracking_uri=tracking_uri, return_state=True
        )
        if state.is_failed():  # the run itself succeeded; a comparison that cannot be made is reported
            print(f"comparison with the previous run {previous} failed: {state.message}")
    return "reports/lifecycle/results.json"


if __name__ == "__main__":
    lifecycle()
