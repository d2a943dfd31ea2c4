"""Tasks over DVC, the one cache that decides what re-runs."""

from prefect import task

from causal_llm.pipeline import dvc_push, dvc_repro


@task(name="dvc-repro", task_run_name="dvc-repro-{stage}")
def repro_stage(stage: str, force: bool = False) -> bool:
    return dvc_repro(stage, force)


@task(name="dvc-push", retries=2, retry_delay_seconds=2)  # idempotent I/O
def push_data() -> str:
    return dvc_push()
