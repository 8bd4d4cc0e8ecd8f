"""stdout for results, stderr for talk; plain text (no box-drawing) off a terminal; help that fits the terminal.

Real processes where the stream matters (a file, a pipe, a pseudo-terminal of a given width).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app

runner = CliRunner()
BOX = set("─│┃━╭╮╰╯┏┓┗┛┡┩└┘┌┐├┤┼═║")
QUESTION = "Can I get a refund on an annual Team plan?"


def ragtune(*args: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragtune", *args], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=300
    )


def in_terminal(args: list[str], columns: int) -> str:
    """Run ``ragtune ARGS`` on a pseudo-terminal ``columns`` wide; what it drew."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal's size, then the command
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
        os.execvpe(sys.executable, [sys.executable, "-m", "ragtune", *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r", "")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # colours off: the text and its borders remain


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sample_corpus: Path, minilm) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path_factory.mktemp("output") / "store")
    result = runner.invoke(app, ["ingest", str(sample_corpus), "--store", path, "--json"])
    assert result.exit_code == 0, result.stderr
    return path


def test_ask_into_a_file_holds_the_answer(store: str, tmp_path: Path) -> None:
    """``ragtune ask ... > answer.txt`` (before: an empty file, the answer was on stderr)."""
    answer = json.loads(ragtune("ask", QUESTION, "--store", store, "--no-rerank", "--json").stdout)["answer"]
    assert answer
    target = tmp_path / "answer.txt"
    with target.open("w") as fh:
        proc = ragtune("ask", QUESTION, "--store", store, "--no-rerank", stdout=fh)
    assert proc.returncode == 0, proc.stderr
    text = target.read_text()
    assert text.startswith(answer) and "route: rag" in text and "sources:" in text
    assert answer not in proc.stderr and "route:" not in proc.stderr
    assert not BOX & set(text) and "\x1b[" not in text


def test_search_hits_go_to_stdout_as_plain_text(store: str) -> None:
    proc = ragtune("search", "refund", "--store", store, "--k", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("1. ") and "score" in lines[0] and any(ln.startswith("2. ") for ln in lines)
    assert "score" not in proc.stderr and "\x1b[" not in proc.stdout


def test_status_and_ingest_reports_go_to_stdout(store: str, sample_corpus: Path, tmp_path: Path) -> None:
    status = runner.invoke(app, ["status", "--store", store])
    assert status.exit_code == 0 and "5 documents" in status.stdout and "documents" not in status.stderr
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text((sample_corpus / "api.md").read_text())
    (folder / "b.bin").write_bytes(b"\x00\x01\x02")
    ingest = runner.invoke(app, ["ingest", str(folder), "--store", str(tmp_path / "s2")])
    assert ingest.exit_code == 0
    assert "added 1" in ingest.stdout and "skipped" not in ingest.stdout  # the report
    assert "skipped" in ingest.stderr and "b.bin" in ingest.stderr and "added" not in ingest.stderr  # a warning


def test_models_list_to_a_pipe_is_a_tab_separated_table(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    add = ["models", "add", "gpt", "--provider", "openai", "--model-id", "gpt-4o-mini", "--store", store]
    assert runner.invoke(app, add).exit_code == 0
    proc = ragtune("models", "list", "--store", store)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Models in {store}"
    assert lines[1].split("\t") == ["name", "provider", "model", "base", "metrics", "freshness"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[2:]}
    assert rows["gpt"][:3] == ["gpt", "openai", "gpt-4o-mini"]
    assert not BOX & set(proc.stdout) and proc.stderr == ""


def test_json_output_is_unchanged_by_the_split(store: str) -> None:
    proc = ragtune("search", "refund", "--store", store, "--k", "1", "--json")
    assert proc.returncode == 0 and len(json.loads(proc.stdout)) == 1 and "refund" not in proc.stderr


def test_help_to_a_pipe_is_plain() -> None:
    for args in ((), ("search",), ("finetune", "train")):
        proc = ragtune(*args, "--help")
        assert proc.returncode == 0 and "Usage:" in proc.stdout and "--help" in proc.stdout, args
        assert not BOX & set(proc.stdout), args


def test_help_in_a_wide_terminal_has_boxes_and_in_a_narrow_one_plain_text() -> None:
    wide = in_terminal(["search", "--help"], 120)
    assert "╭" in wide and "--filter" in wide
    narrow = in_terminal(["search", "--help"], 60)
    assert "--filter" in narrow and not BOX & set(narrow)
    assert max(len(line) for line in narrow.splitlines()) <= 60


def test_rich_help_fits_from_its_minimum_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """At RICH_HELP_MIN_WIDTH columns no command's help boxes cut a word to '…' (the constant stays true)."""
    import typer.rich_utils

    from ragtune.cli import group

    monkeypatch.setattr(group, "rich_help_fits", lambda stream=None: True)
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", group.RICH_HELP_MIN_WIDTH)

    def leaves(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        subs = getattr(command, "commands", None)
        return [path] + [leaf for n, s in (subs or {}).items() for leaf in leaves(s, (*path, n))]

    import typer.main

    paths = leaves(typer.main.get_command(app))
    assert len(paths) > 20
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0 and "╭" in result.stdout, path
        assert "…" not in result.stdout, (path, result.stdout)
        assert max(len(line) for line in result.stdout.splitlines()) <= group.RICH_HELP_MIN_WIDTH, path
