"""Stage flow: Every model answers the testbed's causal questions, direct vs causal-graph prompting."""

from prefect import flow

from causal_llm.tracking import default_tracking_uri
from flows.stage import run_and_log


@flow(name="infer", log_prints=True)
def infer_flow(
    parent_run_id: str | None = None, experiment: str = "causal-llm", tracking_uri: str | None = None
) -> bool:
    """Returns False when DVC found the stage up to date and skipped it."""
    return run_and_log("infer", tracking_uri or default_tracking_uri(), experiment, parent_run_id)


if __name__ == "__main__":
    infer_flow()
