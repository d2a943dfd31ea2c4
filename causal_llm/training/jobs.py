"""A training variant as a Ray Train job: what the driver sends and what every worker runs.

``run_method`` is the one function every training job calls on its workers: it rebuilds the
variant's config from plain data, looks its method up in the stage's registry and runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from causal_llm.config import build_config, to_dict
from causal_llm.training.ray_edge import TrainJob

ENTRY = "causal_llm.training.jobs:run_method"


def run_method(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    from causal_llm.lifecycle import stage_spec

    method = stage_spec(payload["stage"]).methods.get(payload["method"])
    cfg = build_config(method.config, payload["config"], payload["node"])
    return method.run(ctx, payload["inputs"], cfg, payload["seed"])


def job_context(code: list[str], num_workers: int, cpus_per_worker: int = 1) -> dict[str, Any]:
    """What a checkpoint belongs to besides the job's payload and inputs: the code it runs, the world
    size (steps per epoch depend on it), the threads per worker and the hardware (GPU or CPU, bf16
    autocast or fp32: each computes other numbers) and the versions of the libraries that compute.
    A run resumes only where it would compute what the killed run computed."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from causal_llm.training.loop import bf16_is_fast

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    return {
        "code": {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in sorted(code) if Path(f).is_file()},
        "num_workers": num_workers,
        "cpus_per_worker": cpus_per_worker,
        "gpu": torch.cuda.is_available(),
        "bf16_fast": bf16_is_fast("cuda" if torch.cuda.is_available() else "cpu"),
        "versions": {lib: installed(lib) for lib in ("torch", "transformers", "peft", "trl")},
    }


def training_job(
    variant: Any,
    node_id: str,
    seed: int,
    inputs: dict[str, Any],
    reads: list[Path],
    plugins: tuple[str, ...],
    files: dict[str, dict[str, bytes]] | None = None,
    context: dict[str, Any] | None = None,
) -> TrainJob:
    """The job of one training variant; ``reads`` (its corpus or base model) and ``context`` are part
    of its fingerprint."""
    payload = {
        "stage": variant.stage,
        "method": variant.method,
        "node": node_id,
        "config": to_dict(variant.config),
        "seed": seed,
        "inputs": inputs,
    }
    plugins = tuple(str(Path(p).resolve()) if p.endswith(".py") else p for p in plugins)
    sources = {p: Path(p).read_text() for p in plugins if p.endswith(".py")}
    reads_ = tuple(str(p) for p in reads)
    return TrainJob(node_id, ENTRY, payload, plugins, reads_, files or {}, sources, context or {})


def train_node(node: Any, lc: Any, inputs: dict[str, Any], reads: list[Path], files: dict | None = None) -> dict:
    """Train one variant node on Ray Train and write its summary to ``reports/<stage>/<variant>/``."""
    import time

    from causal_llm.corpus import write_json
    from causal_llm.dag import RAY_STORAGE, metrics_file, model_dir
    from causal_llm.timing import record
    from causal_llm.training.ray_edge import fit_on_ray, ray_storage

    params = lc.params
    variant = lc.variant_of(node.id)
    scaling = params.stages[variant.stage].settings.ray
    context = job_context([d for d in node.deps if d.endswith(".py")], scaling.num_workers, scaling.cpus_per_worker)
    job = training_job(variant, node.id, lc.seed_of(node.id), inputs, reads, params.plugins, files, context)
    started = time.time()
    summary = fit_on_ray(job, scaling, model_dir(node.id), ray_storage(RAY_STORAGE))
    record("ray-fit", node.id, started, time.time())
    if summary.get("loop_started_at"):
        loop_start = summary["loop_started_at"]
        record("compute", node.id, loop_start, loop_start + summary["loop_seconds"], where="ray-worker")
    write_json(metrics_file(node.id), summary)
    return summary


def model_inputs(lc: Any, node_id: str) -> tuple[dict[str, Any], list[Path], dict]:
    """What a fine-tuning or alignment job starts from: the base model (shipped along when it is a
    small local folder, for workers on other machines) and the testbed's training stories."""
    from causal_llm.dag import TESTBED
    from causal_llm.data.stage import read_stories
    from causal_llm.models.loading import EMBED_LIMIT, folder_files

    model = lc.model(lc.starts_from(node_id)[0])
    local = Path(model.ref)
    base = str(local.resolve()) if local.is_dir() else model.ref
    stories = read_stories("train")
    inputs = {
        "base": base,
        "base_label": model.label if model.node else model.ref,
        "node": node_id,
        "stories": stories.to_dict("records"),
    }
    files = {}
    if local.is_dir() and sum(p.stat().st_size for p in local.rglob("*") if p.is_file()) <= EMBED_LIMIT:
        files["base"] = folder_files(local)
    reads = [TESTBED / "train.jsonl", *([local] if local.is_dir() else [])]
    return inputs, reads, files
