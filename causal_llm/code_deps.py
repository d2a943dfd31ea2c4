"""The source files a node runs: the modules it names and every ``causal_llm`` module they import,
transitively, found by reading the files (nothing is imported). DVC tracks them, so a change to any
code a node runs re-runs that node, and only the nodes that run it."""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

PACKAGE = "causal_llm"


def module_file(name: str) -> str | None:
    """``causal_llm/dag.py`` for ``causal_llm.dag``: the module's file in this working tree, found on
    disk beside whichever copy of the package the interpreter imports (an editable install
    elsewhere), without importing anything; None if the tree has no such file."""
    if not _ours(name):
        return None
    parts = name.split(".")
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
        if (_package_root() / candidate).is_file() and (Path.cwd() / candidate).is_file():
            return str(candidate)
    return None


@cache
def _package_root() -> Path:
    """The folder that holds the ``causal_llm`` package the interpreter imports."""
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parents[1]


@cache
def _imports(path: str, mtime_ns: int, package: str) -> tuple[str, ...]:
    """The ``causal_llm`` modules a source file imports anywhere in it (function bodies included:
    the library imports heavy modules lazily)."""
    tree = ast.parse(Path(path).read_text(), filename=path)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the file's own package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            if _ours(base):  # `from causal_llm.data import cda` imports the module cda too
                found.append(base)
                found += [f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")]
    return tuple(n for n in dict.fromkeys(found) if _ours(n))


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(f"{PACKAGE}.")


def _package_of(name: str, file: str) -> str:
    return name if file.endswith("__init__.py") else name.rpartition(".")[0]


def code_files(*modules: str, files: tuple[str, ...] = ()) -> list[str]:
    """The working-tree source files (relative) of ``modules`` and of the plugin ``files``, and of every
    ``causal_llm`` module they import, transitively; in a stable order."""
    frontier: list[tuple[str, str]] = [(m, f) for m in modules if (f := module_file(m))]
    frontier += [(Path(f).stem, f) for f in files]
    done: set[str] = set()
    while frontier:
        name, file = frontier.pop()
        if file in done:
            continue
        done.add(file)
        package = _package_of(name, file) if _ours(name) else PACKAGE
        for imported in _imports(file, Path(file).stat().st_mtime_ns, package):
            found = module_file(imported)
            if found and found not in done:
                frontier.append((imported, found))
    return sorted(done)
