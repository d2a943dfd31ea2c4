"""A node that fails on a re-run leaves what its last finished run stored (DVC deletes outs first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from causal_llm.dag import Node, Out
from causal_llm.ops.dvc import dvc_repro

WRITE = (
    "import pathlib, sys; "
    "sys.exit(3) if pathlib.Path('fail').exists() else None; "
    "pathlib.Path('out').mkdir(exist_ok=True); "
    "pathlib.Path('out/model.bin').write_text(pathlib.Path('input.txt').read_text()); "
    "pathlib.Path('metrics.json').write_text('x 1')"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], check=True)
    (tmp_path / "input.txt").write_text("first")
    stage = {
        "cmd": f'{sys.executable} -c "{WRITE}"',
        "deps": ["input.txt"],
        "outs": ["out", {"metrics.json": {"cache": False}}],
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}))
    return tmp_path


def test_a_failed_rerun_restores_the_finished_runs_outputs(repo: Path):
    node = Node("train", "train", outs=(Out("out"), Out("metrics.json", cache=False, metric=True)))
    assert dvc_repro(node) is True
    (repo / "input.txt").write_text("second")  # the node must re-run ...
    (repo / "fail").write_text("")  # ... and this time it fails
    with pytest.raises(RuntimeError, match="node 'train' failed"):
        dvc_repro(node)
    assert (repo / "out/model.bin").read_text() == "first"
    assert (repo / "metrics.json").read_text() == "x 1"  # not in DVC's cache: only the backup had it
    (repo / "fail").unlink()
    assert dvc_repro(node) is True and (repo / "out/model.bin").read_text() == "second"
