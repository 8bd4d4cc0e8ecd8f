"""``python -m ragtune.llm.warm [MODEL]``: build the local model's de-quantized cache ahead of time.

The install step runs it so the first ``ragtune ask`` does not pay the GGUF conversion
(~15-20 s). It returns at once, without importing torch, when the cache is already valid.
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
            return 0
        print(f"ragtune: preparing local model {spec} (one-time GGUF conversion)...", flush=True)
        warm(spec)
    except RagtuneError as exc:
        print(f"ragtune: {exc}", file=sys.stderr)
        return 1
    print(f"ragtune: local model {spec} ready in {time.perf_counter() - start:.1f} s ({cache_dir(spec)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
