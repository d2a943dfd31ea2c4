"""Stage flow: Bias, counterfactual invariance, causal accuracy and perplexity per variant, with CIs."""

from prefect import flow

from causal_llm.tracking import default_tracking_uri
from flows.stage import run_and_log


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    parent_run_id: str | None = None, experiment: str = "causal-llm", tracking_uri: str | None = None
) -> bool:
    """Returns False when DVC found the stage up to date and skipped it."""
    return run_and_log("evaluate", tracking_uri or default_tracking_uri(), experiment, parent_run_id)


if __name__ == "__main__":
    evaluate_flow()
