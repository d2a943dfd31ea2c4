"""Task: register the run's stage models and move the `champion` alias through the gates."""

from prefect import task
from prefect.runtime import flow_run

from causal_llm.config import load_params
from causal_llm.pipeline import register_models
from causal_llm.promotion import format_decisions
from causal_llm.tracking import MlflowTracker


@task(name="register-models")
def register_stage_models(tracking_uri: str, experiment: str, parent_run_id: str) -> str:
    tracker = MlflowTracker(tracking_uri, experiment)
    params = load_params("params.yaml")
    decisions = register_models(tracker, parent_run_id, params, {"prefect.flow_run_id": str(flow_run.id)})
    return format_decisions(decisions)
