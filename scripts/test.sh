#!/usr/bin/env bash
# Set up and run the whole test suite (lint and type checks included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ruff check ragtune tests benchmarks
mypy ragtune
python -m pytest -q -p no:cacheprovider "$@"
