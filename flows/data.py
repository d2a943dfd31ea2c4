"""Stage flow: Generate the SCM testbed corpus, its CDA copy and the rung 1-3 questions."""

from prefect import flow

from causal_llm.tracking import default_tracking_uri
from flows.stage import run_and_log


@flow(name="data", log_prints=True)
def data_flow(
    parent_run_id: str | None = None, experiment: str = "causal-llm", tracking_uri: str | None = None
) -> bool:
    """Returns False when DVC found the stage up to date and skipped it."""
    return run_and_log("data", tracking_uri or default_tracking_uri(), experiment, parent_run_id)


if __name__ == "__main__":
    data_flow()
