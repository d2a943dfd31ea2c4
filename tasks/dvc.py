"""Tasks over DVC, the one cache that decides what re-runs."""

from prefect import task

from causal_llm.ops.dvc import dvc_push


@task(name="dvc-push", retries=2, retry_delay_seconds=2)  # idempotent I/O
def push_data() -> str:
    return dvc_push()
