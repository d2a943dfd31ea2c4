"""DVC, the one cache that decides what re-runs: ``dvc.yaml`` rendered from the lifecycle's nodes,
one ``dvc repro`` per node, ``dvc push``, and the input hashes a run is tagged with.

Several nodes run at once in one workspace; DVC releases its repository lock while a stage's
command runs and takes it again to record the result, and a second ``dvc`` process that finds it
taken fails with "Unable to acquire lock" unless it is told to wait: every call here passes
``--wait-for-lock``. Disjoint outputs keep DVC's per-path read/write locks from colliding.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from causal_llm.config import ParamsError
from causal_llm.dag import Lifecycle, Node
from causal_llm.timing import record

DVC_YAML = Path("dvc.yaml")
HEADER = (
    "# Written by causal-llm from params.yaml: one DVC stage per lifecycle node (stage x variant).\n"
    "# Edit params.yaml, then `causal-llm dvc-yaml` (or any `causal-llm run`) rewrites this file.\n"
)


def render_dvc_yaml(lc: Lifecycle) -> str:
    stages: dict[str, Any] = {}
    for node in lc.nodes:
        stage: dict[str, Any] = {"cmd": f"causal-llm stage {node.id}"}
        if node.description:
            stage["desc"] = node.description
        if node.deps:
            stage["deps"] = list(node.deps)
        if node.id != "params":
            stage["params"] = [{node.params_file: None}]
        outs = [o.path if o.cache else {o.path: {"cache": False}} for o in node.outs if not o.metric]
        metrics = [{o.path: {"cache": False}} for o in node.outs if o.metric]
        if outs:
            stage["outs"] = outs
        if metrics:
            stage["metrics"] = metrics
        stages[node.dvc_name] = stage
    return HEADER + yaml.safe_dump({"stages": stages}, sort_keys=False, width=120)


def write_dvc_yaml(lc: Lifecycle, path: Path = DVC_YAML) -> bool:
    """Write ``dvc.yaml`` for these params; False when it was already current."""
    text = render_dvc_yaml(lc)
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def check_dvc_yaml(lc: Lifecycle, path: Path = DVC_YAML) -> None:
    """A stage run by DVC needs the dvc.yaml of the current params (new variants are new stages)."""
    if not path.is_file() or path.read_text() != render_dvc_yaml(lc):
        raise ParamsError(
            f"{path} does not match {lc.params.source} (variants or what they start from changed): run "
            "`causal-llm dvc-yaml` to rewrite it, then `dvc repro` again; `causal-llm run` does this itself."
        )


def dvc_env() -> dict[str, str]:
    """This interpreter's bin folder first on PATH: `dvc` and the stage commands it runs
    (`causal-llm stage ...`) resolve to this environment even when it was never activated."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]), "DVC_NO_ANALYTICS": "1"}


def dvc(*args: str, echo: bool = False, node: str = "") -> tuple[int, list[str]]:
    """Run ``dvc --wait-for-lock ARGS``; stream its output when ``echo``; (exit code, output lines)."""
    started = time.time()
    proc = subprocess.Popen(
        ["dvc", "--wait-for-lock", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dvc_env(),
    )
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if echo:
            sys.stdout.write(line)  # progress stays visible in the terminal and in Prefect's logs
            sys.stdout.flush()
    code = proc.wait()
    record("dvc", node or args[0], started, time.time(), args=" ".join(args))
    return code, lines


def dvc_repro(node: Node, force: bool = False) -> bool:
    """Run one node through DVC; returns False when DVC found it up to date (or in its run cache) and
    skipped it.

    ``force`` re-runs it even so (a scheduled re-evaluation of unchanged models, say).
    """
    backup = _keep_outs(node)  # DVC deletes a stage's outs before it runs it
    args = ["repro", "--single-item", *(["--force"] if force else []), node.dvc_name]
    try:
        code, lines = dvc(*args, echo=True, node=node.id)
        if code != 0:
            _restore_outs(node, backup)  # a failed run leaves what the last finished one stored
            tail = "".join(lines[-15:])  # the end of the stage's own traceback and DVC's verdict
            raise RuntimeError(f"node '{node.id}' failed (dvc repro exit {code}):\n{tail}")
    finally:
        shutil.rmtree(backup, ignore_errors=True)
    # Up to date, or restored from DVC's run cache (the same inputs ran before): nothing computed.
    return not any("didn't change, skipping" in line or "is cached - skipping run" in line for line in lines)


BACKUPS = Path(".causal_llm/outs-backup")


def _keep_outs(node: Node) -> Path:
    """Hard links to the node's outputs as they are (no bytes copied; DVC's deletion leaves them)."""
    backup = BACKUPS / node.dvc_name
    shutil.rmtree(backup, ignore_errors=True)
    for out in node.outs:
        source = Path(out.path)
        target = backup / out.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, copy_function=_link_or_copy)
        elif source.is_file():
            _link_or_copy(str(source), str(target))
    return backup


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)


def _restore_outs(node: Node, backup: Path) -> None:
    for out in node.outs:
        kept = backup / out.path
        if not kept.exists():
            continue
        current = Path(out.path)
        if current.is_dir():
            shutil.rmtree(current)
        elif current.exists():
            current.unlink()
        current.parent.mkdir(parents=True, exist_ok=True)
        kept.rename(current)


def dvc_push() -> str:
    """Push data and models to the default DVC remote, or to ``CAUSAL_LLM_DVC_REMOTE`` (e.g. an S3 one)."""
    remote = os.environ.get("CAUSAL_LLM_DVC_REMOTE")
    code, lines = dvc("push", *(["--remote", remote] if remote else []))
    if code != 0:
        raise RuntimeError(f"dvc push failed: {''.join(lines[-10:])}")
    return "".join(lines).strip()


def input_hashes(node: Node, lock_file: Path = Path("dvc.lock")) -> dict[str, str]:
    """The DVC hashes of a node's inputs, from dvc.lock."""
    if not lock_file.is_file():
        return {}
    lock: dict = {}
    for attempt in range(10):  # another node's `dvc repro` may be rewriting dvc.lock in place right now
        try:
            lock = yaml.safe_load(lock_file.read_text()) or {}
        except yaml.YAMLError:
            lock = {}
        if node.dvc_name in lock.get("stages", {}):
            break
        time.sleep(0.05 * (attempt + 1))
    deps = lock.get("stages", {}).get(node.dvc_name, {}).get("deps", [])
    return {f"dvc.dep.{d['path']}": d.get("md5") or d.get("hash", "") for d in deps}
