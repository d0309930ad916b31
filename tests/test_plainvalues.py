"""Option values converted without pydantic (cli/plainvalues.py) are exactly Typer's own.

For every parameter of every command, each sample value goes through the plain converter and
through Typer's pydantic converter; the results (value and type) or the refusals (message) must
be the same.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer._coercion import build_runtime_param

from mcpstore_cli.cli import plainvalues
from mcpstore_cli.cli.app import get_command


def _params() -> list[tuple[str, Any, Any]]:
    """(path, parameter, context) for every parameter, help options included."""
    root = get_command()
    found: list[tuple[str, Any, Any]] = []

    def walk(command: Any, parent: Any, path: str) -> None:
        ctx = command.context_class(command, parent=parent, info_name=path.split()[-1])
        help_option = command.get_help_option(ctx)
        for param in [*command.params, *([help_option] if help_option else [])]:
            found.append((f"{path} {param.name}", param, ctx))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, ctx, f"{path} {name}")

    walk(root, None, "mcpstore")
    return found


PARAMS = _params()


def _is_plain(param: Any) -> bool:
    return isinstance(param._runtime_param, plainvalues.PlainRuntimeParam)


PLAIN = [(path, p, ctx) for path, p, ctx in PARAMS if _is_plain(p)]

STRINGS = [
    "", "0", "7", "-3", "-0", "007", "+3", " 5", "5 ", "1_000", "1.5", "1.", ".5", "1e3",
    "nan", "inf", "-inf", "0.05", "0.1", "0.10", "1000", "1001", "999999999999999999",
    "1" * 19, "1.0000000000000002", "٣", "abc", "x\udcff", "30m", "JSON", "Json", "json",
    "table", "jsonl", "CSV", "sqlite", "SQLite", "postgres", "dynamodb", "bash", "ZSH",
    "merge", "replace", "pretty", "sse", "true", "false", "1", "yes",
]  # fmt: skip
OTHER = [None, True, False, 0, 1, 50, 10.0, 10, -2, 2**60, float("nan"), 0.05, (), ("a", "b")]


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:
        return "refused", (type(exc).__name__, str(exc))
    if isinstance(result, float) and math.isnan(result):
        return "nan", type(result)
    return "value", (type(result), result)


def _same(param: Any, ctx: Any, value: Any) -> None:
    plain = param._runtime_param
    typer_own = build_runtime_param(param.type_descriptor)
    assert _outcome(plain, value, param, ctx) == _outcome(typer_own, value, param, ctx), value


@pytest.mark.parametrize(("path", "param", "ctx"), PLAIN, ids=[p[0] for p in PLAIN])
def test_plain_values_are_typers_own(path: str, param: Any, ctx: Any) -> None:
    annotation = param.type_descriptor.annotation
    samples: list[Any] = [*STRINGS, *OTHER]
    if isinstance(annotation, type) and issubclass(annotation, plainvalues.Enum):
        samples += list(annotation)
    if annotation == list[str]:
        samples += [["x"], ("1", "2"), ["a", 1]]
    for value in samples:
        _same(param, ctx, value)


def test_every_option_type_of_the_cli_is_converted_plainly() -> None:
    """A new option type is noticed here (add it to plainvalues, or pydantic loads again)."""
    others = [path for path, p, _ in PARAMS if not _is_plain(p)]
    assert others == []


def test_the_plain_path_decides_the_usual_values() -> None:
    """Not vacuous: the everyday values are decided here, without Typer's converter."""
    by_name = {path: (p, ctx) for path, p, ctx in _params()}  # a fresh tree
    cases = {
        "mcpstore list limit": ("50", 50),
        "mcpstore list connect_timeout": ("2.5", 2.5),
        "mcpstore list segments": ("4", 4),
        "mcpstore list fmt": ("JSON", "json"),
        "mcpstore list url": ("sqlite:///x.db", "sqlite:///x.db"),
        "mcpstore list timeout": ("30m", "30m"),
        "mcpstore list help": (False, False),
    }
    for path, (given_value, expected) in cases.items():
        param, ctx = by_name[path]
        runtime = param._runtime_param
        assert runtime.coerce(given_value, param=param, ctx=ctx) == expected, path
        assert runtime._typer == [], f"{path}: Typer's converter was built"


NUMERIC = [(path, p, ctx) for path, p, ctx in PLAIN if p.type_descriptor.annotation in (int, float)]


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(NUMERIC) - 1),
    text=st.one_of(
        st.from_regex(r"\A[ +-]?[0-9_]{0,20}(\.[0-9]{0,18})?([eE][+-]?[0-9]{1,3})?\s?\Z"),
        st.text(max_size=12),
    ),
)
def test_numbers_as_typed_convert_alike(index: int, text: str) -> None:
    _path, param, ctx = NUMERIC[index]
    _same(param, ctx, text)


STRINGY = [(path, p, ctx) for path, p, ctx in PLAIN if p.type_descriptor.annotation is not bool]


@settings(max_examples=200, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(STRINGY) - 1), text=st.text(max_size=20))
def test_any_text_converts_alike(index: int, text: str) -> None:
    _path, param, ctx = STRINGY[index]
    _same(param, ctx, text)
