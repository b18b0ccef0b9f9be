"""Declared options: the typed, documented knobs of problems and optimizers.

A problem or an optimizer declares each option once, with its default, a help line (meaning and
unit) and the values it allows. From that one declaration come `toylab list`, the parsing of
`k=v` strings on the command line, and the one-line errors for bad values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable


class UserError(ValueError):
    """A bad value given by the user; the CLI prints its message as one line, no traceback."""


@dataclass(frozen=True)
class Option:
    default: Any
    help: str
    check: Callable[[Any], bool] | None = None
    allowed: str = ""
    choices: tuple = ()
    static: bool = False  # structural: configs that differ here cannot share one batch

    def parse(self, name: str, text: str) -> Any:
        """Parse `text` to the type of the default and validate it."""
        value = _parse_like(self.default, name, text, self.choices)
        return self.validate(name, value)

    def validate(self, name: str, value: Any) -> Any:
        if isinstance(self.default, tuple):
            value = tuple(value) if isinstance(value, (tuple, list)) else value
            if not isinstance(value, tuple) or len(value) != len(self.default):
                raise UserError(f"{name}={value!r} is not {len(self.default)} values like {format_value(self.default)}")
        if self.choices and value not in self.choices:
            raise UserError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(str, self.choices))}")
        if self.check is not None and not self.check(value):
            raise UserError(f"{name}={value!r} is out of range; allowed: {self.allowed}")
        return value

    def describe(self) -> str:
        allowed = self.allowed or (", ".join(map(str, self.choices)) if self.choices else "")
        extra = f"; allowed: {allowed}" if allowed else ""
        return f"{self.help} (default {format_value(self.default)}{extra})"


def format_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _parse_like(default: Any, name: str, text: str, choices: tuple = ()) -> Any:
    text = text.strip()
    try:
        if isinstance(default, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if isinstance(default, tuple):
            parts = [p for p in text.replace(":", ",").split(",") if p]
            if len(parts) != len(default):
                raise ValueError
            return tuple(_parse_like(d, name, p) for d, p in zip(default, parts))
        if default is None or isinstance(default, str):
            return text
    except ValueError:
        pass
    kind = {bool: "true or false", int: "an integer", float: "a finite number"}.get(type(default))
    if isinstance(default, tuple):
        kind = f"{len(default)} comma-separated values like {format_value(default)}"
    raise UserError(f"{name}={text!r} is not {kind or 'valid'}")


def resolve(kind: str, declared: dict[str, Option], given: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and validate `given` against `declared`; unknown names are an error."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise UserError(
            f"unknown {kind} option {unknown[0]!r}; valid options: {', '.join(sorted(declared)) or '(none)'}"
        )
    out = {}
    for name, opt in declared.items():
        value = given.get(name, opt.default)
        if isinstance(value, str) and not isinstance(opt.default, str) and opt.default is not None:
            value = opt.parse(name, value)
        out[name] = opt.validate(name, value) if name in given else value
    return out


# Common checks, with their allowed-text.
def nonneg() -> dict:
    return dict(check=lambda x: x >= 0, allowed=">= 0")


def positive() -> dict:
    return dict(check=lambda x: x > 0, allowed="> 0")


def unit_interval() -> dict:
    return dict(check=lambda x: 0 <= x < 1, allowed="0 <= x < 1")


def betas_check() -> dict:
    return dict(check=lambda b: all(0 <= x < 1 for x in b), allowed="each beta in [0, 1)")
