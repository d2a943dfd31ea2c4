"""Task: compare lifecycle runs read back from MLflow (table, plots, warnings, a `compare` run)."""

from prefect import task

from causal_llm.compare import format_comparison
from causal_llm.ops.compare_runs import run_comparison


@task(name="compare-runs")
def compare_runs(tracking_uri: str, experiment: str, run_ids: list[str] | None, out_dir: str) -> str:
    """Returns the printable table with its warnings; the files land in ``out_dir`` and on a `compare` run."""
    comparison, _, _ = run_comparison(tracking_uri, experiment, run_ids, out_dir)
    return format_comparison(comparison)
