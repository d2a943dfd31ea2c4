"""The shape every stage flow shares: DVC decides and runs the stage, then its runs are logged."""

from prefect import Flow, flow

from causal_llm.tracking import resolve_tracking_uri
from tasks.dvc import repro_stage
from tasks.tracking import end_parent_run, log_stage_runs, start_parent_run


def make_stage_flow(stage: str, description: str) -> Flow:
    @flow(name=stage, description=description, log_prints=True)
    def stage_flow(
        parent_run_id: str | None = None,
        experiment: str = "causal-llm",
        tracking_uri: str | None = None,
        force: bool = False,
    ) -> bool:
        """Returns False when DVC found the stage up to date and skipped it.

        Args:
            parent_run_id: the lifecycle's MLflow run; empty when the stage is started on its own
                (Prefect UI, schedule), which then logs under a run of its own.
            experiment: MLflow experiment.
            tracking_uri: MLflow tracking URI; empty means MLFLOW_TRACKING_URI or mlflow/mlflow.db.
            force: re-run even when DVC finds the stage's inputs unchanged (re-evaluation).
        """
        uri = resolve_tracking_uri(tracking_uri)
        ran = repro_stage(stage, force)
        if parent_run_id:
            log_stage_runs(uri, experiment, parent_run_id, stage, ran)
            return ran
        parent = start_parent_run(uri, experiment, stage, run_type="stage")
        try:
            log_stage_runs(uri, experiment, parent, stage, ran)
        except BaseException:
            end_parent_run(uri, experiment, parent, "FAILED")
            raise
        end_parent_run(uri, experiment, parent, "FINISHED")
        return ran

    return stage_flow
