#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, unit, flow and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
ruff check .
python -m pytest -q --durations=25 "$@"
