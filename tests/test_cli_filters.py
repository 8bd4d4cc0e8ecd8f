"""The strict filter grammar (README, "Filters"): what parses, and errors that name the position."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragtune.cli.main import app
from ragtune.errors import ConfigError, FilterSyntaxError
from ragtune.filters import And, Comparison, Op, Or, matches, parse_filter

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "field", "op", "value"),
    [
        ("page>=3", "page", Op.GTE, 3),
        ("page >= 3", "page", Op.GTE, 3),
        ("page==2", "page", Op.EQ, 2),
        ("page!=2", "page", Op.NE, 2),
        ("year<2021.5", "year", Op.LT, 2021.5),
        ("x = -4", "x", Op.EQ, -4),
        ("draft=true", "draft", Op.EQ, True),
        ("year='2020'", "year", Op.EQ, "2020"),
        ("title=Getting started", "title", Op.EQ, "Getting started"),
        ("title=don't panic", "title", Op.EQ, "don't panic"),
        ("title='a>b'", "title", Op.EQ, "a>b"),
        ('title="x = y"', "title", Op.EQ, "x = y"),
        ("source=/docs/api.md", "source", Op.EQ, "/docs/api.md"),
        ("lang in en,de", "lang", Op.IN, ["en", "de"]),
        ("lang IN 'en', \"d,e\"", "lang", Op.IN, ["en", "d,e"]),
        ("tags contains beta", "tags", Op.CONTAINS, "beta"),
        ("meta.kind-2 = nan", "meta.kind-2", Op.EQ, "nan"),  # not a float: only plain numbers are typed
    ],
)
def test_what_parses(text: str, field: str, op: Op, value: object) -> None:
    assert parse_filter(text) == Comparison(field=field, op=op, value=value)


def test_json_trees_parse() -> None:
    tree = parse_filter(
        '{"or": [{"field": "page", "op": "gte", "value": 3}, {"and": [{"field": "a", "op": "eq", "value": 1}]}]}'
    )
    assert isinstance(tree, Or) and isinstance(tree.filters[1], And)
    assert matches(tree, {"page": 4}) and matches(tree, {"a": 1}) and not matches(tree, {"page": 1})


@pytest.mark.parametrize(
    ("text", "position", "says"),
    [
        ("page>>2", 6, "unexpected '>' after operator '>'"),
        ("x <> 3", 4, "unexpected '>' after operator '<'"),
        ("page=>2", 6, "unexpected '>'"),
        ("page=", 6, "expected a value"),
        ("=3", 1, "expected a field name"),
        ("", 1, "expected a field name"),
        ("???", 1, "expected a field name"),
        ("no operator here", 4, "expected an operator after field 'no'"),
        ("pagein 3", 8, "expected an operator"),
        ("x!2", 2, "expected an operator"),
        ("page in a,,b", 11, "expected a value after 'in'"),
        ("page in a,", 11, "expected a value after 'in'"),
        ("x='open", 3, "never closed"),
        ("x='a' b", 7, "unexpected text after the quoted value"),
        ("title contains a=b", 17, "unexpected '=' in the value of 'contains'"),
        ("{bad json", 2, "invalid JSON"),
        ('{"field": "page"}', 1, "expected keys field, op"),
        ('{"and": []}', 1, "non-empty list"),
        ('{"field": "page", "op": "like", "value": 1}', 1, "expected keys field, op"),
    ],
)
def test_what_does_not_parse_names_the_position(text: str, position: int, says: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    error = caught.value
    assert error.position == position and error.text == text
    assert f"at position {position}:" in str(error) and says in str(error)
    assert isinstance(error, ConfigError) and isinstance(error, ValueError)  # tools map it like any bad argument


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sample_corpus: Path, minilm) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path_factory.mktemp("filters") / "store")
    result = runner.invoke(app, ["ingest", str(sample_corpus), "--store", path, "--json"])
    assert result.exit_code == 0, result.stderr
    return path


def test_search_refuses_a_malformed_filter(store: str) -> None:
    """Before: ``page>>2`` was read as ``page > ">2"``, exit 0 and no hits."""
    result = runner.invoke(app, ["search", "refund", "--filter", "page>>2", "--store", store, "--json"])
    assert result.exit_code == 2, result.stdout
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "usage"
    assert "position 6" in error["message"] and "page>>2" in error["message"]
    plain = runner.invoke(app, ["search", "refund", "--filter", "page>>2", "--store", store])
    assert plain.exit_code == 2 and plain.stdout == "" and "position 6" in plain.stderr


def test_search_with_a_good_filter_still_filters(store: str, sample_corpus: Path) -> None:
    source = str((sample_corpus / "api.md").resolve())
    result = runner.invoke(app, ["search", "errors", "--filter", f"source='{source}'", "--store", store, "--json"])
    hits = json.loads(result.stdout)
    assert result.exit_code == 0 and hits and {h["source"] for h in hits} == {source}


def test_the_agent_tools_use_the_same_parser(store: str) -> None:
    """The search tool (LangChain, LlamaIndex and MCP wrap it) refuses ``page>>2`` with the same position."""
    from ragtune.agents.toolkit import RagtuneToolkit
    from ragtune.config import Settings
    from ragtune.errors import ToolError
    from ragtune.workspace import Workspace

    with Workspace(Settings(store=Path(store))) as workspace:
        try:
            result = RagtuneToolkit(workspace).search("refund", filters=["page>>2"])
        except ToolError as exc:  # the tool layer may raise or return its error form
            message = str(exc)
        else:
            message = str(result.content)
    assert "position 6" in message and "page>>2" in message
