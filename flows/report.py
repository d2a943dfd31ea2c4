"""Stage flow: Compare: one table of variant x metric with CIs, plots, logged to the parent run."""

from prefect import flow

from causal_llm.tracking import default_tracking_uri
from flows.stage import run_and_log


@flow(name="report", log_prints=True)
def report_flow(
    parent_run_id: str | None = None, experiment: str = "causal-llm", tracking_uri: str | None = None
) -> bool:
    """Returns False when DVC found the stage up to date and skipped it."""
    return run_and_log("report", tracking_uri or default_tracking_uri(), experiment, parent_run_id)


if __name__ == "__main__":
    report_flow()
