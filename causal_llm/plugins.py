"""Plugins: modules named in params.yaml (``plugins:``) whose methods register themselves on import."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from pathlib import Path

from causal_llm.config import ParamsError


def load_plugins(plugins: tuple[str, ...] | list[str], where: str = "plugins") -> None:
    """Import each plugin (a ``.py`` file or a dotted module name) once, so its methods register."""
    for i, plugin in enumerate(plugins):
        if plugin.endswith(".py"):
            path = Path(plugin).resolve()
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
            name = f"causal_llm_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest}"
            if name in sys.modules:
                continue
            if not path.is_file():
                raise ParamsError(f"{where}[{i}]: {plugin}: file not found. Fix the path or remove the entry.")
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception:
                del sys.modules[name]
                raise
        else:
            try:
                importlib.import_module(plugin)
            except ModuleNotFoundError as err:
                raise ParamsError(f"{where}[{i}]: cannot import '{plugin}' ({err}).") from None
