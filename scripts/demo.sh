#!/usr/bin/env bash
# The main job, offline, on the embedded defaults: ingest the sample corpus, search it, ask it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
STORE=${RAGTUNE_STORE:-.ragtune-demo}
echo "== ingest examples/sample_corpus into $STORE"
ragtune ingest examples/sample_corpus --store "$STORE"
ragtune status --store "$STORE"
for q in "how long do I have to get a refund" "API rate limit 429" "where is my data stored"; do
  echo "== search: $q"
  ragtune search "$q" --store "$STORE" --k 2
done
if ragtune ask --help >/dev/null 2>&1; then
  for q in "Can I get a refund on an annual Team plan?" "What is the API rate limit on Enterprise?" "Write a haiku about autumn."; do
    echo "== ask: $q"
    ragtune ask "$q" --store "$STORE"
  done
fi
