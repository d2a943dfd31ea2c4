"""One generic registry: anything swappable is chosen by name, registered where it is defined.

A registry may own a package (``package=``): on the first lookup every module of that package is
imported, so a method registers itself in the module that defines it and nothing else lists it
(lm-evaluation-harness's task registry works the same way). Code outside the package, such as a
plugin file named in ``params.yaml``, registers the same way once imported.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._items: dict[str, T] = {}
        self._discovered = package is None

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            self.add(name, item)
            return item

        return add

    def add(self, name: str, item: T) -> None:
        if name in self._items and self._items[name] != item:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = item

    def discover(self) -> None:
        """Import every module of the registry's package (once): registration happens on import."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)  # type: ignore[arg-type]
        for module in pkgutil.iter_modules(package.__path__, f"{self.package}."):
            importlib.import_module(module.name)

    def get(self, name: str) -> T:
        self.discover()
        if name not in self._items:
            hint = did_you_mean(name, self._items)
            raise UnknownName(f"unknown {self.kind} '{name}'.{hint} Known: {self.listing()}.")
        return self._items[name]

    def find(self, name: str) -> T | None:
        """The item, or None; no error (for optional lookups such as a metric's semantics)."""
        self.discover()
        return self._items.get(name)

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._items)

    def listing(self) -> str:
        return ", ".join(sorted(self._items)) or "none"

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


class NotFound(LookupError):
    """A name the user gave (a method, a run, an experiment) that does not exist: bad input, reported
    as such by the CLI (other lookup errors are bugs and keep their traceback)."""


class UnknownName(NotFound, KeyError):
    """An unregistered name (a KeyError too, for callers that look names up like a mapping)."""


def did_you_mean(key: str, options: Any) -> str:
    close = difflib.get_close_matches(key, [str(o) for o in options], n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


@dataclass(frozen=True)
class Method:
    """A registered method: its name, its frozen config dataclass and the function that runs it."""

    name: str
    stage: str
    config: type
    run: Callable[..., Any]

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.run) or ""
        return doc.split("\n", 1)[0]

    @property
    def source(self) -> Path:
        """The file that defines the method (a dependency of every variant that uses it)."""
        return Path(inspect.getsourcefile(self.run) or "")


class MethodRegistry(Registry[Method]):
    """A stage's methods. ``@REGISTRY.method(name, Config)`` registers the function it decorates."""

    def __init__(self, stage: str, package: str | None = None) -> None:
        super().__init__(f"{stage} method", package)
        self.stage = stage

    def method(self, name: str, config: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if not (is_dataclass(config) and config.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise TypeError(f"{self.kind} '{name}': its config {config.__name__} must be a frozen dataclass")

        def add(run: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, Method(name, self.stage, config, run))
            return run

        return add
