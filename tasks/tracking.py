"""Tasks over the experiment tracker; each builds its tracker from a URI (tasks pass strings)."""

from prefect import task
from prefect.runtime import flow_run

from causal_llm.config import load_params
from causal_llm.pipeline import git_commit, log_stage
from causal_llm.tracking import MlflowTracker, flatten


@task(name="start-parent-run")
def start_parent_run(tracking_uri: str, experiment: str, name: str, run_type: str = "lifecycle") -> str:
    """The run a lifecycle (or a stage started on its own) logs under; ``run_type`` lets compare find it."""
    params = load_params("params.yaml")
    tracker = MlflowTracker(tracking_uri, experiment)
    run = tracker.start_run(
        name,
        tags={
            "prefect.flow_run_id": str(flow_run.id),
            "git.commit": git_commit(),
            "profile": params.profile,
            "causal_llm.run_type": run_type,
        },
    )
    tracker.log_params(run, flatten(params.to_dict()))
    return run


@task(name="log-stage", task_run_name="log-{stage}")
def log_stage_runs(tracking_uri: str, experiment: str, parent_run_id: str, stage: str, ran: bool) -> list[str]:
    tracker = MlflowTracker(tracking_uri, experiment)
    tags = {"prefect.flow_run_id": str(flow_run.id), "prefect.flow_name": str(flow_run.flow_name)}
    return log_stage(tracker, parent_run_id, stage, load_params("params.yaml"), ran, tags)


@task(name="end-parent-run")
def end_parent_run(tracking_uri: str, experiment: str, parent_run_id: str, status: str) -> None:
    MlflowTracker(tracking_uri, experiment).end_run(parent_run_id, status)


@task(name="previous-lifecycle-run")
def previous_lifecycle_run(tracking_uri: str, experiment: str) -> str | None:
    """The newest finished lifecycle run of the experiment, to compare the new run with."""
    found = MlflowTracker(tracking_uri, experiment).find_runs(
        "tags.`causal_llm.run_type` = 'lifecycle' and attributes.status = 'FINISHED'", max_results=1
    )
    return found[0]["run_id"] if found else None
