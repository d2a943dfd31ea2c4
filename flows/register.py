"""Register every model variant in the MLflow registry: alias `candidate`, and `champion` when the
candidate's bias is no worse and its ability within tolerance of the current champion (params `registry`)."""

from prefect import flow

from causal_llm.tracking import resolve_tracking_uri
from tasks.registry import register_stage_models


@flow(name="register", log_prints=True)
def register_flow(parent_run_id: str, experiment: str = "causal-llm", tracking_uri: str | None = None) -> str:
    """Returns the decisions as a table.

    Args:
        parent_run_id: the lifecycle run whose model variants are registered.
        experiment: MLflow experiment.
        tracking_uri: MLflow tracking URI; empty means MLFLOW_TRACKING_URI or mlflow/mlflow.db.
    """
    table = register_stage_models(resolve_tracking_uri(tracking_uri), experiment, parent_run_id)
    print(table)
    return table


if __name__ == "__main__":
    import sys

    register_flow(sys.argv[1])
