"""Every usage error under ``--json``, including the option parser's own: exit 2, one JSON document on stdout.

The commands are walked from the real command tree, so a new command is covered without editing this file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from ragtune.cli.main import app

runner = CliRunner()


def _leaves(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    subs = getattr(command, "commands", None)
    if not subs:
        return [(path, command)]
    return [leaf for name, sub in sorted(subs.items()) for leaf in _leaves(sub, (*path, name))]


COMMANDS = _leaves(typer.main.get_command(app))


def _usage_error(args: list[str], tmp_path: Path) -> dict[str, str]:
    result = runner.invoke(app, [*args, "--store", str(tmp_path / "store")])
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    doc = json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout
    assert set(doc) == {"error"} and set(doc["error"]) == {"type", "message"}, doc
    assert doc["error"]["message"].strip(), doc
    assert not (tmp_path / "store").exists(), args  # a refused command creates nothing
    return doc["error"]


def test_the_command_tree_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"ask", "search", "status", "route", "doctor", "models list", "finetune train", "eval answers"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_unknown_option_is_a_json_usage_error(path: tuple[str, ...], tmp_path: Path) -> None:
    error = _usage_error([*path, "--no-such-option", "--json"], tmp_path)
    assert error["type"] == "usage" and "--no-such-option" in error["message"]


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_bad_option_value_is_a_json_usage_error(path: tuple[str, ...], tmp_path: Path) -> None:
    """``--weaviate-grpc-port`` is an integer option every store command shares."""
    command = dict(COMMANDS)[path]
    opts = {o for p in getattr(command, "params", []) for o in getattr(p, "opts", [])}
    if not {"--weaviate-grpc-port", "--json"} <= opts:
        pytest.skip(f"{' '.join(path)} has no --weaviate-grpc-port or no --json (mcp speaks JSON-RPC)")
    error = _usage_error([*path, "--weaviate-grpc-port", "many", "--json"], tmp_path)
    assert error["type"] == "usage" and "--weaviate-grpc-port" in error["message"]


REQUIRED = [(p, c) for p, c in COMMANDS if any(getattr(x, "required", False) for x in getattr(c, "params", []))]


@pytest.mark.parametrize("path", [p for p, _ in REQUIRED], ids=[" ".join(p) for p, _ in REQUIRED])
def test_missing_argument_or_option_is_a_json_usage_error(path: tuple[str, ...], tmp_path: Path) -> None:
    error = _usage_error([*path, "--json"], tmp_path)
    assert error["type"] == "usage" and "Missing" in error["message"]


def test_the_issue_examples(tmp_path: Path) -> None:
    error = _usage_error(["search", "x", "--k", "-1", "--json"], tmp_path)
    assert "--k" in error["message"]
    error = _usage_error(["ask", "x", "--route", "nonsense", "--json"], tmp_path)
    assert "--route" in error["message"] and "nonsense" in error["message"]
    assert _usage_error(["no-such-command", "--json"], tmp_path)["type"] == "usage"


def test_without_json_the_error_is_text_on_stderr(tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "x", "--k", "-1", "--store", str(tmp_path)])
    assert result.exit_code == 2 and result.stdout == "" and "--k" in result.stderr


def test_a_real_process_prints_one_json_document(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ragtune", "ask", "x", "--route", "nonsense", "--json", "--store", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["type"] == "usage"
    assert "--route" in proc.stderr and "Traceback" not in proc.stderr


def test_json_after_double_dash_is_an_argument(tmp_path: Path) -> None:
    """``search -- --json`` searches for the text "--json": the parser's error stays plain text."""
    result = runner.invoke(app, ["search", "--k", "0", "--store", str(tmp_path), "--", "--json"])
    assert result.exit_code == 2 and result.stdout == ""
