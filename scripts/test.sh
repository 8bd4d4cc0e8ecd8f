#!/usr/bin/env bash
# Set up and run the whole test suite (lint and type checks included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ruff check ragtune tests benchmarks
mypy ragtune
# one worker per core, one thread each; each test file on one worker (its module fixtures built once),
# each notebook on its own, the slow groups handed out first (tests/conftest.py groups and orders them;
# --no-loadscope-reorder keeps that order instead of xdist's most-tests-first)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
python -m pytest -q -p no:cacheprovider -n auto --dist loadgroup --no-loadscope-reorder "$@"
