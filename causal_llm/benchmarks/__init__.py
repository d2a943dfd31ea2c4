"""Benchmarks in their published formats, generated causal benchmarks with exact answers, and the
metrics defined on them. ``formats()`` imports every format module so that ``FORMATS`` is full."""

from __future__ import annotations

import importlib

from causal_llm.benchmarks.base import (
    FORMATS,
    BenchmarkFormat,
    BenchmarkFormatError,
    Item,
    Malformed,
    RowErrors,
    register_format,
)

FORMAT_MODULES = ("crows_pairs", "stereoset", "winobias", "copa", "cladder", "corr2cause", "testbed")


def formats() -> list[str]:
    """Import every format module (registration happens where a format is defined)."""
    for module in FORMAT_MODULES:
        importlib.import_module(f"causal_llm.benchmarks.{module}")
    return FORMATS.names()


__all__ = [
    "FORMATS",
    "BenchmarkFormat",
    "BenchmarkFormatError",
    "Item",
    "Malformed",
    "RowErrors",
    "formats",
    "register_format",
]
