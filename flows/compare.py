"""Compare lifecycle runs: variant x metric with CIs per run, deltas, plots and provenance warnings.

Entry points: ``causal-llm compare``, ``python -m flows.compare``, the Prefect UI.
"""

import os

from prefect import flow

from causal_llm.tracking import default_tracking_uri
from tasks.compare import compare_runs

OUT_DIR = "reports/compare"


@flow(name="compare", log_prints=True)
def compare_flow(
    experiment: str = "causal-llm", run_ids: list[str] | None = None, tracking_uri: str | None = None
) -> str:
    """Compare ``run_ids`` (lifecycle parent runs), or the two newest finished lifecycle runs; the
    table is printed and logged with its plots on a `compare` run. Returns the output folder."""
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    print(compare_runs(tracking_uri, experiment, run_ids, OUT_DIR))
    return OUT_DIR


if __name__ == "__main__":
    compare_flow()
