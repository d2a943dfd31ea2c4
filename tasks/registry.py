"""Task: register the run's model variants and move the `champion` alias through the gates."""

from pathlib import Path

from prefect import task
from prefect.runtime import flow_run

from causal_llm.ops.nodes import current_lifecycle
from causal_llm.ops.registry import format_decisions, register_models
from causal_llm.ops.runs import tracker_for


@task(name="register-models")
def register_stage_models(tracking_uri: str, experiment: str, parent_run_id: str) -> str:
    tags = {"prefect.flow_run_id": str(flow_run.id)}
    out = Path("reports/registry")
    decisions = register_models(tracker_for(tracking_uri, experiment), parent_run_id, current_lifecycle(), tags, out)
    return format_decisions(decisions)
