"""Which heavy libraries one real CLI command imports, run in a fresh interpreter.

Start-up time is a feature ("``ask`` imports no torch"), so tests check it the only honest way:
a new Python process runs the command and reports the top-level modules it loaded.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable

_PROBE = """
import sys
roots = set(sys.argv[1].split(','))
from ragtune.cli.main import app
try:
    app(sys.argv[2:])
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
heavy = sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in roots})
print('HEAVY', heavy, 'EXIT', code)
"""

ML_ROOTS = ("torch", "transformers", "peft", "sentence_transformers", "openvino", "onnxruntime", "onnx")
"""The libraries whose import alone costs seconds."""


def heavy_imports_after(*args: str, roots: Iterable[str] = ML_ROOTS, timeout: float = 600) -> tuple[list[str], int]:
    """Run ``ragtune ARGS`` in a fresh interpreter; the ``roots`` it imported (sorted) and its exit code.

    Raises:
        AssertionError: the probe printed no report (the interpreter crashed); its output is attached.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(roots), *args], capture_output=True, text=True, timeout=timeout
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("HEAVY ")), None)
    if line is None:
        raise AssertionError(f"ragtune {' '.join(args)} printed no import report:\n{proc.stdout}{proc.stderr}")
    listed, code = line.removeprefix("HEAVY ").rsplit(" EXIT ", 1)
    return [name.strip(" '") for name in listed.strip("[]").split(",") if name.strip()], int(code)


__all__ = ["ML_ROOTS", "heavy_imports_after"]
