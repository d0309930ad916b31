"""Stored JSON that cannot be decoded is a BadJSON naming the field, never another error."""

from __future__ import annotations

import pytest

from mcpstore_cli.util.jsoncodec import BadJSON, loads_any, loads_object, loads_optional


def test_invalid_json_names_the_field_and_the_position() -> None:
    with pytest.raises(BadJSON, match=r"^state is not valid JSON \(.* at character 1\)$"):
        loads_object("{x", "state")
    with pytest.raises(BadJSON, match=r"^data is not valid JSON \(.* at character 0\)$"):
        loads_any("nope", "data")


@pytest.mark.parametrize("shared", [False, True])
def test_an_integer_python_refuses_is_bad_json(shared: bool) -> None:
    # Valid JSON, but over Python's 4300-digit limit: json raises a plain ValueError.
    huge = "1" * 5000
    with pytest.raises(BadJSON, match=r"^metadata cannot be decoded \(.*4300"):
        loads_optional(f'{{"n":{huge}}}', "metadata", shared=shared)
    with pytest.raises(BadJSON, match=r"^data cannot be decoded \(.*4300"):
        loads_any(huge, "data")
