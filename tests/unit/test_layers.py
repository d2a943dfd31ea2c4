"""The layer rule of DESIGN.md: the library never imports the orchestration stack at import time."""

import subprocess
import sys

MODULES = [
    "causal_llm.align",
    "causal_llm.cda",
    "causal_llm.cli",
    "causal_llm.config",
    "causal_llm.corpus",
    "causal_llm.distributed",
    "causal_llm.evaluate",
    "causal_llm.finetune",
    "causal_llm.infer",
    "causal_llm.metrics",
    "causal_llm.models",
    "causal_llm.pipeline",
    "causal_llm.pretrain",
    "causal_llm.registry",
    "causal_llm.report",
    "causal_llm.scm",
    "causal_llm.scoring",
    "causal_llm.stages",
    "causal_llm.testbed",
    "causal_llm.tracking",
    "causal_llm.train",
]


def test_library_imports_no_prefect_mlflow_ray_or_dvc():
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {MODULES!r}];"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'mlflow', 'ray', 'dvc'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
