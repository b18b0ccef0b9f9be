"""A grid of runs: every combination of lists of values over one base config, as `RunConfig`s.

The one notion behind `toylab sweep` (its comma-separated lists), report specs (their TOML
lists) and the Python API. An axis is a field path with its values:

    problem_options.NAME, hparams.NAME, schedules.NAME   one option of the problem, optimizer, schedule
    seed, steps, ...                                     a field of `RunConfig`

`grid(base, axes)` is their product in the order the axes are given (the last varies fastest);
`axes(entry, declared, field)` reads the axes of one spec table (`{"name": ..., option: value or
list}`), where a list expands except a flat list given to a pair-valued option (`betas =
[0.95, 0.95]` is one value; a list of pairs expands).
"""
from __future__ import annotations

import dataclasses
import itertools
import math

from .config import RunConfig
from .options import Option, UserError, check_sweep_size


def size(axes: dict[str, list]) -> int:
    """How many configs `grid` makes of `axes`."""
    return math.prod(len(v) for v in axes.values())


def grid(base: RunConfig, axes: dict[str, list]) -> list[RunConfig]:
    """The product of `axes` over `base`; more than `TOYLAB_MAX_CONFIGS` configs is a `UserError`."""
    check_sweep_size(size(axes))
    configs = []
    names = list(axes)
    for values in itertools.product(*(axes[n] for n in names)):
        fields = {"problem_options": dict(base.problem_options), "hparams": dict(base.hparams),
                  "schedules": dict(base.schedules)}
        top = {}
        for name, value in zip(names, values):
            head, _, tail = name.partition(".")
            if tail:
                fields[head][tail] = value
            else:
                top[name] = value
        configs.append(dataclasses.replace(base, **fields, **top))
    return configs


def values(value, option: Option | None) -> list:
    """The values a spec entry stands for: a list expands, except a flat list for a pair option."""
    pair = option is not None and isinstance(option.default, tuple)
    if not isinstance(value, list) or (pair and not any(isinstance(v, list) for v in value)):
        return [tuple(value) if isinstance(value, list) else value]
    return [tuple(v) if isinstance(v, list) else v for v in value]


def axes(entry: dict, declared: dict[str, Option | None], field: str) -> dict[str, list]:
    """`field.KEY` → the values of each key of a spec table but its `name`; a key not in `declared`
    or an empty list is a one-line `UserError` naming the table."""
    keys = [k for k in entry if k != "name"]
    unknown = [k for k in keys if k not in declared]
    if unknown:
        raise UserError(f"{entry['name']}: unknown option {unknown[0]!r} in spec; valid: {', '.join(declared)}")
    out = {f"{field}.{k}": values(entry[k], declared[k]) for k in keys}
    empty = [k for k in keys if not out[f"{field}.{k}"]]
    if empty:
        raise UserError(f"{entry['name']}: {empty[0]} = [] has no values")
    return out
