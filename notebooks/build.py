"""Generate the example notebooks from the cell lists in ``notebooks/cells/``.

The notebooks are build output: edit the ``cells/*.py`` sources, then run::

    python notebooks/build.py            # writes notebooks/*.ipynb
    python notebooks/build.py --check    # exit 1 if a notebook is out of date

A cell source file is plain Python in "percent" format: ``# %%`` starts a
code cell, ``# %% [markdown]`` a Markdown cell whose lines are ``# ``-prefixed
comments. That keeps every notebook reviewable (and lintable) as a diff.
Outputs are not stored; ``tests/test_notebooks.py`` executes each notebook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
CELLS = HERE / "cells"
NOTEBOOKS = {
    "01_quickstart": "Quickstart: ingest, search, ask",
    "02_finetune": "Fine-tuning: prepare, local LoRA, evaluate, register",
    "03_routing": "Routing: routes, decisions, confusion matrix",
    "04_agents": "Agents: LangChain and LlamaIndex with ragtune tools",
    "05_rag_vs_finetune": "RAG vs fine-tuning: the comparison and its charts",
}


def parse_cells(text: str) -> list[nbformat.NotebookNode]:
    """Split a percent-format source into notebook cells."""
    cells: list[nbformat.NotebookNode] = []
    kind: str | None = None
    lines: list[str] = []

    def flush() -> None:
        body = "\n".join(lines).strip("\n")
        if kind is None or not body.strip():
            return
        if kind == "markdown":
            stripped = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines()]
            cells.append(new_markdown_cell("\n".join(stripped)))
        else:
            cells.append(new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build(name: str) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=parse_cells((CELLS / f"{name}.py").read_text(encoding="utf-8")))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.metadata["ragtune"] = {"title": NOTEBOOKS[name], "generated_by": "notebooks/build.py"}
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{name}-{index:02d}"
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Fail if a notebook differs from its cells.")
    parser.add_argument("names", nargs="*", choices=[*NOTEBOOKS, []], help="Notebooks to build (default: all).")
    args = parser.parse_args(argv)
    stale = []
    for name in args.names or NOTEBOOKS:
        text = nbformat.writes(build(name)) + "\n"
        path = HERE / f"{name}.ipynb"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
