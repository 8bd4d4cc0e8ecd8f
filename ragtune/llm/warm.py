"""``python -m ragtune.llm.warm [MODEL]``: build the local model's de-quantized cache ahead of time.

The install step runs it so the first ``ragtune ask`` does not pay the GGUF conversion
(~15-20 s) nor building the block graphs of :mod:`ragtune.llm.block_decoder` (~10 s). It returns
at once, without importing torch, when both are already valid.
"""

from __future__ import annotations

import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Warm ``argv[0]`` (default: the packaged model); print what happened; 1 when it cannot load."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from ragtune.errors import RagtuneError
    from ragtune.llm.loader import cache_dir, is_warm, normalize_spec, warm

    args = sys.argv[1:] if argv is None else argv
    spec = normalize_spec(args[0] if args else None)
    start = time.perf_counter()
    try:
        if is_warm(spec):
            print(f"ragtune: local model {spec} is already warm ({cache_dir(spec)})")
        else:
            print(f"ragtune: preparing local model {spec} (one-time GGUF conversion)...", flush=True)
            warm(spec)
            print(f"ragtune: local model {spec} ready in {time.perf_counter() - start:.1f} s ({cache_dir(spec)})")
    except RagtuneError as exc:
        print(f"ragtune: {exc}", file=sys.stderr)
        return 1
    _warm_blocks(spec)
    return 0


def _warm_blocks(spec: str) -> None:
    """Build the block graphs the default engine runs on (a GGUF model only); say why not when it cannot."""
    from ragtune.llm.loader import resolve_source
    from ragtune.llm.numpy_chat import weights_choice

    if weights_choice() != "blocks" or not resolve_source(spec).is_gguf:
        return
    start = time.perf_counter()
    try:
        from ragtune.llm.block_decoder import block_graphs

        folder = block_graphs(spec)
    except (ValueError, ImportError) as exc:
        print(f"ragtune: {spec} will generate on float32 weights: {exc}", file=sys.stderr)
        return
    print(f"ragtune: block graphs of {spec} ready in {time.perf_counter() - start:.1f} s ({folder})")


if __name__ == "__main__":
    sys.exit(main())
