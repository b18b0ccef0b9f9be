"""Declared options: the typed, documented knobs of problems and optimizers.

A problem or an optimizer declares each option once, with its default, a help line (meaning and
unit) and the values it allows. From that one declaration come `toylab list`, the parsing of
`k=v` strings on the command line, and the one-line errors for bad values.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable


DTYPES = ("float32", "float64")  # floating-point types of a run


class UserError(ValueError):
    """A bad value given by the user; the CLI prints its message as one line, no traceback."""


class Failure(RuntimeError):
    """A run that could not complete (a failed shard, out of memory); the CLI prints one line."""


class ToylabWarning(UserWarning):
    """An input that cannot take effect, or a run folder that had to be recomputed; one line."""


def warn(message: str) -> None:
    warnings.warn(message, ToylabWarning, stacklevel=2)


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
        """Check the type against the default's (an int for an int, a finite number for a
        float, a pair of the right length for a pair), then the allowed values."""
        value = _typed_like(self.default, name, value)
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
    kind = _kind(default).replace(" values", " comma-separated values")
    raise UserError(f"{name}={text!r} is not {kind}")


def _typed_like(default: Any, name: str, value: Any) -> Any:
    """`value` (from TOML or Python) as the type of `default`; integral floats become ints."""
    if default is None:
        return value
    ok = False
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # a 0-d tensor or numpy scalar
            value = value.item()
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        if isinstance(value, (list, tuple)) and len(value) == len(default):
            return tuple(_typed_like(d, name, v) for d, v in zip(default, value))
    elif isinstance(default, str):
        ok = isinstance(value, str)
    if not ok:
        raise UserError(f"{name}={value!r} is not {_kind(default)}")
    return value


def _kind(default: Any) -> str:
    if isinstance(default, tuple):
        return f"{len(default)} values like {format_value(default)}"
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}.get(
        type(default), "valid")


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


# ----- seeds and the size of a sweep --------------------------------------------------------------
def max_configs() -> int:
    """The most configs one command builds (`TOYLAB_MAX_CONFIGS`, default 100 000)."""
    try:
        return int(os.environ.get("TOYLAB_MAX_CONFIGS", "100000"))
    except ValueError:
        raise UserError(f"TOYLAB_MAX_CONFIGS={os.environ['TOYLAB_MAX_CONFIGS']!r} is not an integer") from None


def check_sweep_size(count: int) -> None:
    """A sweep larger than `max_configs()` is an error before anything is built."""
    if count > max_configs():
        raise UserError(f"the sweep has {count:,} configs, more than the limit of {max_configs():,}; "
                        f"set TOYLAB_MAX_CONFIGS to raise it")


def parse_seeds(value: Any, what: str = "--seeds") -> list[int]:
    """Seeds from a string (`0,1,5`, a range `0-3`, or both) or a list of non-negative ints."""
    if isinstance(value, str):
        bounds = []
        try:
            for part in value.split(","):
                low, sep, high = part.strip().partition("-")
                bounds.append((int(low), int(high) if sep else int(low)))
        except ValueError:
            raise UserError(f"{what} {value!r} is neither a list like 0,1,5 nor a range like 0-3") from None
        check_sweep_size(sum(max(high - low + 1, 0) for low, high in bounds))
        value = [s for low, high in bounds for s in range(low, high + 1)]
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        raise UserError(f"{what} {value!r}: seeds must be a non-empty list of non-negative integers")
    return sorted(set(value))
