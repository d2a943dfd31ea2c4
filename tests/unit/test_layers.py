"""The layers of docs/architecture.md, checked on every module of the package (walked, not listed):

- the library (``causal_llm`` minus ``ops``) imports none of prefect, mlflow, ray, dvc at import
  time, and never imports ``ops``, ``app``, ``flows`` or ``tasks``;
- ``ops`` never imports prefect, ``app``, ``flows`` or ``tasks``;
- only ``app``, ``flows`` and ``tasks`` import Prefect.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import app
import causal_llm

ROOT = Path(causal_llm.__file__).resolve().parent if causal_llm.__file__ else Path(causal_llm.__path__[0])


def modules() -> list[str]:
    """Every module of the library and of the app layer on top of it (a top-level package)."""
    return sorted(
        [m.name for m in pkgutil.walk_packages(causal_llm.__path__, "causal_llm.")]
        + ["app", *(m.name for m in pkgutil.walk_packages(app.__path__, "app."))]
    )


def layer(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "app":
        return "app"
    return "ops" if len(parts) > 1 and parts[1] == "ops" else "library"


def imported_names(module: str) -> set[str]:
    """Every module a module's source imports, at any depth of its code (function bodies included)."""
    path = Path(__import__("importlib").util.find_spec(module).origin)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_walk_finds_every_layer():
    names = modules()
    assert len(names) > 50
    assert {"causal_llm.pretrain.scratch", "causal_llm.ops.dvc", "app.cli"} <= set(names)


def test_library_and_ops_import_no_prefect_mlflow_ray_or_dvc_at_import_time():
    wanted = [m for m in modules() if layer(m) != "app"]
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {wanted!r}];"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'mlflow', 'ray', 'dvc', 'flows', 'tasks'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_each_layer_imports_only_what_it_may():
    problems = []
    for module in modules():
        names = {
            n.split(".")[0] if not n.startswith("causal_llm.") else ".".join(n.split(".")[:2])
            for n in imported_names(module)
        }
        if layer(module) == "library":
            forbidden = {"prefect", "flows", "tasks", "app", "causal_llm.ops"}
        elif layer(module) == "ops":
            forbidden = {"prefect", "flows", "tasks", "app"}
        else:
            forbidden = set()
        problems += [f"{module} imports {name}" for name in sorted(names & forbidden)]
    assert not problems, problems


def test_flows_and_tasks_are_the_only_prefect_code_besides_the_app():
    repo = ROOT.parent
    for folder in ("flows", "tasks"):
        assert any("prefect" in p.read_text() for p in (repo / folder).glob("*.py"))
    for path in ROOT.rglob("*.py"):  # the whole library package, ops included
        assert "from prefect" not in path.read_text() and "import prefect" not in path.read_text(), path
