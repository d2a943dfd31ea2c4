"""The shape every stage flow shares: DVC decides and runs the stage, then its runs are logged."""

from tasks.dvc import repro_stage
from tasks.tracking import log_stage_runs


def run_and_log(stage: str, tracking_uri: str, experiment: str, parent_run_id: str | None) -> bool:
    ran = repro_stage(stage)
    if parent_run_id:
        log_stage_runs(tracking_uri, experiment, parent_run_id, stage, ran)
    return ran
