"""The ``ragtune`` command: a thin typer layer over the library.

Each command lives in its own module and registers itself on ``app``; heavy
imports happen inside the commands so ``ragtune --help`` stays fast.
"""

from __future__ import annotations

import logging
import os

import typer

from ragtune.cli.group import RagtuneGroup

app = typer.Typer(
    cls=RagtuneGroup,
    name="ragtune",
    help="Build, compare and combine RAG and fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug output to stderr."),
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not verbose:
        # the commands draw their own progress; Hugging Face's per-file "Loading weights" bars
        # would only interleave with the answer on stderr
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def _register() -> None:
    """Import command modules so they attach to ``app`` (each guards its own heavy imports)."""
    import importlib

    for module in ("index", "ask", "finetune", "models", "compare", "eval_answers", "mcp", "doctor", "migrate"):
        try:
            importlib.import_module(f"ragtune.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ragtune.cli.{module}":
                raise


_register()

__all__ = ["app"]
