"""Tasks over the experiment tracker; each finds its tracker from a URI (tasks pass strings)."""

from prefect import task
from prefect.runtime import flow_run

from causal_llm.ops.runs import start_parent_run, tracker_for
from causal_llm.params import load_params


@task(name="start-parent-run")
def open_parent_run(tracking_uri: str, experiment: str, name: str, run_type: str = "lifecycle") -> str:
    """The run a lifecycle (or a stage started on its own) logs under; ``run_type`` lets compare find it."""
    tags = {"prefect.flow_run_id": str(flow_run.id), "causal_llm.run_type": run_type}
    return start_parent_run(tracker_for(tracking_uri, experiment), name, load_params("params.yaml"), tags)


@task(name="end-parent-run")
def end_parent_run(tracking_uri: str, experiment: str, parent_run_id: str, status: str) -> None:
    tracker_for(tracking_uri, experiment).end_run(parent_run_id, status)


@task(name="previous-lifecycle-run")
def previous_lifecycle_run(tracking_uri: str, experiment: str) -> str | None:
    """The newest finished lifecycle run of the experiment, to compare the new run with."""
    found = tracker_for(tracking_uri, experiment).find_runs(
        "tags.`causal_llm.run_type` = 'lifecycle' and attributes.status = 'FINISHED'", max_results=1
    )
    return found[0]["run_id"] if found else None
