"""The root command group: option-parser errors under ``--json``, and help that fits the terminal.

Typer (click) parses options before any ragtune code runs, so its errors (``--k -1``, an unknown
``--route``, an unknown option, a missing argument) would bypass ``with_settings``: exit 2, empty
stdout, a rich usage box on stderr. Here, with ``--json`` among the arguments, they become one
``{"error": {"type": "usage", "message": ...}}`` document on stdout, exit 2, like every other failure.

Rich help and error boxes are drawn only on a terminal at least :data:`RICH_HELP_MIN_WIDTH`
columns wide; narrower terminals, pipes and files get click's plain text (no box-drawing).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import click
import typer
from typer.core import TyperGroup

RICH_HELP_MIN_WIDTH = 100
"""Narrowest terminal that gets rich help boxes: every command's boxes fit from 88 columns on
without cutting a word to ``…`` (tests/test_cli_output.py checks this width still suffices)."""


def rich_help_fits(stream: Any = None) -> bool:
    """Whether help on ``stream`` (default stdout) may be drawn in rich boxes: a wide enough terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):  # closed or not a real stream
        return False
    return shutil.get_terminal_size().columns >= RICH_HELP_MIN_WIDTH


def _plain_help(command: Any) -> None:
    """Switch a command tree to click's plain help and error text."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


PARSER_ERRORS: tuple[type[Exception], ...] = (
    click.ClickException,
    *((typer.TyperException,) if hasattr(typer, "TyperException") else ()),
)
"""What the option parser raises: click's errors, or (typer >= 0.20, which vendors click) typer's."""
ABORTS: tuple[type[BaseException], ...] = (click.Abort, typer.Abort)


def _wants_json(args: Sequence[str]) -> bool:
    """``--json`` given as an option (not after ``--``, where it would be a plain argument)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


class RagtuneGroup(TyperGroup):
    """The ``ragtune`` group: usage errors as JSON under ``--json``; plain help off a wide terminal."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not rich_help_fits():
            _plain_help(self)
        if not _wants_json(argv):
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except PARSER_ERRORS as exc:
            code = _usage_json(exc)
        except ABORTS:
            click.echo("Aborted!", err=True)
            code = 1
        else:
            if not standalone_mode:
                return result
            code = result if isinstance(result, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


def _usage_json(exc: Exception) -> int:
    """Report an option-parser error: plain text on stderr, one JSON document on stdout."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    code = int(getattr(exc, "exit_code", 2))
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "ragtune"
    sys.stderr.write(f"error: {command}: {message}\n")
    kind = "usage" if code == 2 else "error"
    sys.stdout.write(json.dumps({"error": {"type": kind, "message": message}}, indent=2) + "\n")
    sys.stdout.flush()
    return code


__all__ = ["PARSER_ERRORS", "RICH_HELP_MIN_WIDTH", "RagtuneGroup", "rich_help_fits"]
