"""The shape every stage flow shares: DVC decides and runs the stage, then its runs are logged."""

from prefect import Flow, flow

from causal_llm.tracking import default_tracking_uri
from tasks.dvc import repro_stage
from tasks.tracking import log_stage_runs


def make_stage_flow(stage: str, description: str) -> Flow:
    @flow(name=stage, description=description, log_prints=True)
    def stage_flow(
        parent_run_id: str | None = None, experiment: str = "causal-llm", tracking_uri: str | None = None
    ) -> bool:
        """Returns False when DVC found the stage up to date and skipped it."""
        ran = repro_stage(stage)
        if parent_run_id:
            log_stage_runs(tracking_uri or default_tracking_uri(), experiment, parent_run_id, stage, ran)
        return ran

    return stage_flow
