"""Options every ragtune command accepts after its name, defined once.

``@with_settings`` adds ``--store``, ``--backend``, ``--weaviate-url``,
``--weaviate-grpc-port``, ``--weaviate-api-key``, ``--collection``,
``--embedding``, ``--chat-model`` and ``--config`` to a command's signature and
hands the command a resolved :class:`~ragtune.config.Settings` as ``settings``.
Unset flags fall back to ``RAGTUNE_<NAME>`` variables and the config file.

With ``--json``, a failing command still prints exactly one JSON document on
stdout, ``{"error": {"type": ..., "message": ...}}``, with the usual exit code.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import logging
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console, Group
    from rich.table import Table

    from ragtune.chains.rag_chain import ChainConfig

from ragtune.choices import Backend
from ragtune.cli.group import PARSER_ERRORS
from ragtune.errors import RagtuneError

F = TypeVar("F", bound=Callable[..., Any])


class _LazyConsole:
    """A rich ``Console`` made on first use, so a command that prints no rich text (``--help``, ``--json``)
    never imports rich. Rich looks up ``sys.stdout`` / ``sys.stderr`` at each print; the terminal and
    colour checks a console makes when it is built now run at its first print, which in a command's
    process sees the same streams and environment as the import did."""

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_console", None)

    def _get(self) -> Console:
        made: Console | None = object.__getattribute__(self, "_console")
        if made is None:
            from rich.console import Console

            made = Console(**object.__getattribute__(self, "_options"))
            object.__setattr__(self, "_console", made)
        return made

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)


def _rich_console(console: Console) -> Console:
    """The rich ``Console`` itself behind :data:`console` or :data:`out` (for rich APIs that take one)."""
    return console._get() if isinstance(console, _LazyConsole) else console  # type: ignore[unreachable]


console = typing.cast("Console", _LazyConsole(stderr=True, soft_wrap=True))
"""Talk: progress, logs, warnings and errors go to stderr."""

out = typing.cast("Console", _LazyConsole(soft_wrap=True, emoji=False, highlight=False))
"""Results: answers, hits, tables and reports go to stdout (JSON with --json, else text).

Off a terminal (a pipe or a file) rich writes no colour codes; ``soft_wrap`` keeps long lines whole,
and :func:`show_table` writes tables as tab-separated text instead of box-drawing.
"""

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOTHING_INGESTED = 3

_COMMON: list[inspect.Parameter] = [
    inspect.Parameter(
        "store",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Path | None, typer.Option("--store", help="Store folder (index, cache, models).")],
    ),
    inspect.Parameter(
        "backend",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Backend | None, typer.Option("--backend", help="embedded (default) or weaviate.")],
    ),
    inspect.Parameter(
        "weaviate_url",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, typer.Option("--weaviate-url", help="Weaviate HTTP URL.")],
    ),
    inspect.Parameter(
        "weaviate_grpc_port",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[int | None, typer.Option("--weaviate-grpc-port", help="Weaviate gRPC port.")],
    ),
    inspect.Parameter(
        "weaviate_api_key",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, typer.Option("--weaviate-api-key", help="Weaviate API key.")],
    ),
    inspect.Parameter(
        "collection",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, typer.Option("--collection", help="Weaviate collection name.")],
    ),
    inspect.Parameter(
        "embedding",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[str | None, typer.Option("--embedding", help="local (default) or openai:<model>.")],
    ),
    inspect.Parameter(
        "chat_model",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--chat-model",
                help="Chat model used as base for this run: local, local:<hf-id-or-path> or openai:<model-id>.",
            ),
        ],
    ),
    inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Path | None, typer.Option("--config", help="TOML config file (default ./ragtune.toml).")],
    ),
]
_COMMON_NAMES = [p.name for p in _COMMON]
_JSON_PARAMS = ("json_out",)
_json_errors: contextvars.ContextVar[bool] = contextvars.ContextVar("ragtune_json_errors", default=False)
log = logging.getLogger(__name__)


def with_settings(func: F | None = None, *, backend_flag: str = "--backend") -> Any:
    """Add the common options to a command and pass it ``settings``; map errors to exit codes.

    ``backend_flag`` spells the index backend's option for a command whose ``--backend`` means
    something else (``finetune train``: ``@with_settings(backend_flag="--index-backend")``).
    """
    if func is None:
        return functools.partial(with_settings, backend_flag=backend_flag)
    common = [_renamed(p, backend_flag) if p.name == "backend" else p for p in _COMMON]
    signature = inspect.signature(func)
    hints = _option_hints(func)
    own = [
        p.replace(annotation=hints.get(name, p.annotation))
        for name, p in signature.parameters.items()
        if name != "settings"
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        common = {name: kwargs.pop(name, None) for name in _COMMON_NAMES}
        config_file = common.pop("config")
        token = _json_errors.set(any(kwargs.get(name) for name in _JSON_PARAMS))
        try:
            from ragtune.config import Settings

            settings = Settings.load(common, config_file=config_file)
            return func(*args, settings=settings, **kwargs)
        except RagtuneError as exc:
            code = EXIT_USAGE if isinstance(exc, ValueError) and _is_usage(exc) else EXIT_FAILED
            fail(str(exc), code=code, kind=_error_type(exc))
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except PARSER_ERRORS as exc:  # e.g. typer.BadParameter raised by a command
            if not _json_errors.get():
                raise
            fail(exc.format_message(), code=exc.exit_code, kind="usage")  # type: ignore[attr-defined]
        except Exception as exc:
            if not _json_errors.get():
                raise
            log.debug("%s failed", func.__name__, exc_info=True)
            fail(f"{type(exc).__name__}: {exc}", code=EXIT_FAILED, kind=type(exc).__name__)
        finally:
            _json_errors.reset(token)

    wrapper.__signature__ = signature.replace(parameters=[*own, *common], return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = hints  # resolved: typer reads them too, and need not see ``settings``
    return wrapper


def _option_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of a command's own parameters (typer needs them as types, not strings).

    ``settings`` and the return type are left out, so a command module may import :class:`Settings`
    (and with it pydantic) for type checkers only.
    """
    own = {k: v for k, v in func.__annotations__.items() if k not in ("settings", "return")}

    def probe() -> None: ...

    probe.__annotations__ = own
    return typing.get_type_hints(probe, globalns=func.__globals__, include_extras=True)


def _renamed(param: inspect.Parameter, flag: str) -> inspect.Parameter:
    """The index backend option under another flag (the value still reaches ``Settings.backend``)."""
    if flag == "--backend":
        return param
    option = typer.Option(flag, help="Index backend: embedded (default) or weaviate.")
    return param.replace(annotation=Annotated[Backend | None, option])


def _error_type(exc: Exception) -> str:
    """The JSON ``error.type``: ``usage`` for a filter that does not parse (a usage error, like the parser's own);
    otherwise the error's class name, as scripts already match it (``ConfigError``, ``ModelError``, ...)."""
    from ragtune.errors import FilterSyntaxError

    return "usage" if isinstance(exc, FilterSyntaxError) else type(exc).__name__


def _is_usage(exc: Exception) -> bool:
    from ragtune.errors import ConfigError

    return isinstance(exc, ConfigError)


def fail(message: str, *, code: int = EXIT_FAILED, kind: str | None = None) -> typing.NoReturn:
    """Print an error and exit with ``code``: on stderr, and as one JSON document on stdout under ``--json``.

    Args:
        kind: the JSON ``error.type``; default ``usage`` for exit code 2, else ``error``.
    """
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    if _json_errors.get():
        kind = kind or ("usage" if code == EXIT_USAGE else "error")
        emit_json({"error": {"type": kind, "message": message}})
    raise typer.Exit(code)


def emit_json(data: BaseModel | dict[str, Any] | list[Any]) -> None:
    """Print exactly one JSON document on stdout."""
    from pydantic import BaseModel

    if isinstance(data, BaseModel):
        sys.stdout.write(data.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def show_table(table: Table | Group) -> None:
    """A rich table (or a group of them) on stdout: boxed on a terminal, tab-separated text to a pipe or file."""
    if out.is_terminal:
        out.print(table)
        return
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if isinstance(table, Group):
        for part in table.renderables:
            if isinstance(part, Table | Group):
                show_table(part)
            else:
                out.print(part)
        return

    def plain(cell: object) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
        return " ".join(text.split())

    columns = table.columns
    lines = [plain(table.title)] if table.title else []
    lines.append("\t".join(plain(c.header) for c in columns))
    lines.extend("\t".join(plain(cell) for cell in row) for row in zip(*(c.cells for c in columns), strict=True))
    out.file.write("".join(f"{line}\n" for line in lines))  # rich would expand the tabs
    out.file.flush()


JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
RerankFlag = Annotated[
    bool,
    typer.Option(
        "--rerank/--no-rerank",
        help="Extractive answers: when passages compete, the packaged SmolLM2 picks the one the question "
        "is likeliest after (about 1 s more on 2 CPU cores). --no-rerank: embeddings and word overlap alone.",
    ),
]


def chain_config(mode: str, grounding: str | None, *, rerank: bool = True) -> ChainConfig:
    """The chain's settings; a mode or grounding policy the chain does not know is a usage error.

    ``rerank=False``: extractive answers do not ask the packaged SmolLM2 to settle near ties
    between passages (embeddings and word overlap alone; no model load).
    """
    from pydantic import ValidationError

    from ragtune.chains.grounding.extract import ExtractOptions
    from ragtune.chains.rag_chain import ChainConfig
    from ragtune.errors import ConfigError

    values: dict[str, Any] = {"mode": mode}
    if grounding is not None:
        values["grounding"] = grounding
    if not rerank:
        values["extract"] = ExtractOptions(likelihood_weight=0.0)
    try:
        return ChainConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"The chain rejects {values}: {problems}.") from exc


__all__ = [
    "EXIT_FAILED",
    "EXIT_NOTHING_INGESTED",
    "EXIT_USAGE",
    "JsonFlag",
    "RerankFlag",
    "chain_config",
    "console",
    "emit_json",
    "fail",
    "out",
    "show_table",
    "with_settings",
]


class _RichProgress:
    """A ProgressCallback driving one rich bar per phase on stderr.

    When stderr is not a terminal (a log file, CI, ``2> log``), a live bar would print nothing until
    the end, so the same events become plain lines instead, once the work has taken
    ``_PLAIN_AFTER_S`` seconds: one when a phase starts, then at most one every ``_PLAIN_EVERY_S``
    seconds, and one when it completes.
    """

    _PLAIN_EVERY_S = 10.0
    _PLAIN_AFTER_S = 2.0

    def __init__(self, description: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.description = description
        self.plain = not console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_rich_console(console),
            transient=False,
            disable=self.plain,
        )
        self.tasks: dict[str, Any] = {}
        self.started = time.monotonic()
        self.last_line: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        if self.plain:
            self._line(event)
            return
        task = self.tasks.get(event.phase)
        if task is None:
            task = self.progress.add_task(f"{self.description}: {event.phase}", total=event.total)
            self.tasks[event.phase] = task
        self.progress.update(task, completed=event.done, total=event.total)

    def _line(self, event: Any) -> None:
        now = time.monotonic()
        if now - self.started < self._PLAIN_AFTER_S:
            return  # a quick command says nothing: its result is on stdout
        first = event.phase not in self.last_line
        finished = event.total is not None and event.done >= event.total
        if not (first or finished or now - self.last_line[event.phase] >= self._PLAIN_EVERY_S):
            return
        if finished and self.last_line.get(event.phase) == -1.0:
            return  # its completion was already reported
        self.last_line[event.phase] = -1.0 if finished else now
        count = f"{event.done}/{event.total}" if event.total is not None else str(event.done)
        detail = f" {event.message}" if event.message else ""
        line = f"{self.description}: {event.phase} {count}{detail} ({now - self.started:.0f} s)"
        console.print(line, highlight=False, markup=False)

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def progress_bar(description: str) -> _RichProgress:
    """``with progress_bar("ingest") as cb: library_call(progress=cb)``: a bar on stderr."""
    return _RichProgress(description)
