"""Option values converted without pydantic, with exactly pydantic's results.

Typer 0.29 converts the value of every option and argument through a pydantic ``TypeAdapter``
(``typer._coercion.build_runtime_param``), built the first time a command's options are
processed. Building the first one imports pydantic, about 70 ms of every command's start-up,
for values that are mostly plain strings and numbers.

:func:`install` gives each parameter of the command tree whose type is one mcpstore uses
(``str``, ``int``, ``float``, ``bool``, an enum of choices, a list of strings) a converter that
handles the plain cases here: a value of the right type, a whole number or a decimal written
with digits only, a choice. Every other value (and every value the checks would refuse, so that
the error message stays Typer's own) goes to Typer's own pydantic converter, built on first
use. ``tests/test_plainvalues.py`` checks that both give the same result for every parameter.

Typer's internals are reached here and in :mod:`mcpstore_cli.cli.clickcompat` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from typer._coercion import RuntimeParam, build_runtime_param
from typer._param_types import coerce_cli_choice
from typer.core import _TyperParameter

from mcpstore_cli.cli.clickcompat import Command, Context

# Whole numbers and decimals as pydantic reads them, in the forms that need no judgement
# (no sign but '-', no spaces, underscores or exponents) and small enough to be exact.
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")
_EXACT_FLOAT_INT = 2**53

_UNDECIDED = object()


def plain_value(annotation: Any, info: Any, value: Any, ctx: Context | None) -> Any:
    """``value`` converted as pydantic would, or ``_UNDECIDED`` when this cannot be sure."""
    if info.parser is not None or info.clamp:
        return _UNDECIDED
    if annotation is str:
        return value if type(value) is str else _UNDECIDED
    if annotation is bool:
        return value if type(value) is bool else _UNDECIDED
    if annotation is int:
        if type(value) is int:
            number: Any = value
        elif type(value) is str and _INT.fullmatch(value):
            number = int(value)
        else:
            return _UNDECIDED
        return number if _in_range(number, info) else _UNDECIDED
    if annotation is float:
        if type(value) is float:
            number = value
        elif (type(value) is int and abs(value) < _EXACT_FLOAT_INT) or (
            type(value) is str and _FLOAT.fullmatch(value)
        ):
            number = float(value)
        else:
            return _UNDECIDED
        return number if _in_range(number, info) else _UNDECIDED
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        try:
            return coerce_cli_choice(
                value, choices=tuple(annotation), case_sensitive=info.case_sensitive, ctx=ctx
            )
        except Exception:
            return _UNDECIDED  # the refusal, worded by Typer
    if annotation == list[str]:
        if isinstance(value, list | tuple) and all(type(item) is str for item in value):
            return list(value)
        return _UNDECIDED
    return _UNDECIDED


def _in_range(number: Any, info: Any) -> bool:
    # A NaN compares false both ways: pydantic refuses it where there is a bound.
    if info.min is not None and not number >= info.min:
        return False
    return not (info.max is not None and not number <= info.max)


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):
    """Typer's runtime coercion contract, pydantic only for what :func:`plain_value` leaves."""

    descriptor: Any = None
    _typer: list[RuntimeParam] = field(default_factory=list, compare=False, repr=False)

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
        result = plain_value(self.annotation, self.parameter_info, value, ctx)
        if result is not _UNDECIDED:
            return result
        return self.typer_param()._coerce_value(value, param=param, ctx=ctx)

    def typer_param(self) -> RuntimeParam:
        """Typer's own converter (pydantic), built once, when first needed."""
        if not self._typer:
            self._typer.append(build_runtime_param(self.descriptor))
        return self._typer[0]


def handled(annotation: Any) -> bool:
    """Whether :func:`plain_value` knows this parameter type at all."""
    if annotation in (str, bool, int, float) or annotation == list[str]:
        return True
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def install(command: Command) -> None:
    """Give every parameter of ``command`` and its subcommands a plain converter where its
    type allows (before Typer builds its own on first use); the help option, which click
    makes when it is first asked for, gets one then."""
    for param in command.params:
        _plain(param)
    original = command.get_help_option

    def get_help_option(ctx: Context) -> Any:
        option = original(ctx)
        if option is not None:
            _plain(option)
        return option

    command.get_help_option = get_help_option  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        install(sub)


def _plain(param: Any) -> None:
    if not isinstance(param, _TyperParameter) or param._runtime_param is not None:
        return
    descriptor = param.type_descriptor
    if descriptor.file_annotation is not None or not handled(descriptor.annotation):
        return
    param._runtime_param = PlainRuntimeParam(
        parameter_info=descriptor.parameter_info,
        annotation=descriptor.annotation,
        descriptor=descriptor,
    )
