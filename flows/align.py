"""Stage flow: DPO on counterfactual preference pairs on top of the baseline SFT model."""

from prefect import flow

from causal_llm.tracking import default_tracking_uri
from flows.stage import run_and_log


@flow(name="align", log_prints=True)
def align_flow(
    parent_run_id: str | None = None, experiment: str = "causal-llm", tracking_uri: str | None = None
) -> bool:
    """Returns False when DVC found the stage up to date and skipped it."""
    return run_and_log("align", tracking_uri or default_tracking_uri(), experiment, parent_run_id)


if __name__ == "__main__":
    align_flow()
