"""The main job: every lifecycle stage in order, one MLflow parent run, then the comparison table.

Entry points: ``causal-llm run``, ``python -m flows.lifecycle``, the Prefect UI and schedules.
"""

import os

from prefect import flow

from flows.align import align_flow
from flows.benchmarks import benchmarks_flow
from flows.data import data_flow
from flows.evaluate import evaluate_flow
from flows.finetune import finetune_flow
from flows.infer import infer_flow
from flows.pretrain import pretrain_flow
from flows.report import report_flow
from tasks.dvc import push_data
from tasks.params import prepare_params
from tasks.tracking import end_parent_run, start_parent_run

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


@flow(name="lifecycle", log_prints=True)
def lifecycle(
    profile: str = "smoke",
    params_file: str = "params.yaml",
    experiment: str = "causal-llm",
    push: bool = True,
) -> str:
    """Run every stage (data -> benchmarks -> pretrain -> ... -> report); returns the results path."""
    from causal_llm.tracking import default_tracking_uri

    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    prepare_params(params_file, profile)
    parent = start_parent_run(tracking_uri, experiment, profile)
    try:
        for stage_flow in STAGE_FLOWS:
            stage_flow(parent_run_id=parent, experiment=experiment, tracking_uri=tracking_uri)
        if push:
            push_data()
    except BaseException:
        end_parent_run(tracking_uri, experiment, parent, "FAILED")
        raise
    end_parent_run(tracking_uri, experiment, parent, "FINISHED")
    return "reports/lifecycle/results.json"


if __name__ == "__main__":
    lifecycle()
