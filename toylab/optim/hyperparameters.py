"""One batch's hyperparameters as one frozen record, built in one place (`hyperparameters`).

A `Hyperparameters` reads like a mapping of the optimizer's declared hyperparameters (exactly
those of its `OptimizerDef.hparams`, every one present) and carries the two things the engine
knows beyond them as declared fields:

    hp["lr"], hp["betas"], ...   dynamic: `Tensor[K]` (pairs `[K, 2]`; a chunk of scheduled steps
                                 `[steps, K]`), static: the plain value the whole batch shares
    hp.lr_max                    `Tensor[K]`, the peak of each config's lr schedule: η_max of the
                                 schedule-corrected decay (AdamC / SGDC, docs/claims.md C8)
    hp.normalized                the parameter names whose loss is scale-invariant, where the
                                 corrected decay applies

`hp.replace(lr=...)` gives a new record with some values swapped (a step's scheduled values),
`hp.rows(a, b)` the record of configs a:b (a block of the batch).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..options import UserError


@dataclass(frozen=True, eq=False)
class Hyperparameters(Mapping):
    hparams: dict[str, Any]  # the optimizer's declared hyperparameters, every one
    lr_max: Tensor  # [K]
    normalized: frozenset[str] = field(default_factory=frozenset)

    def __getitem__(self, name: str) -> Any:
        return self.hparams[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.hparams)

    def __len__(self) -> int:
        return len(self.hparams)

    def replace(self, **values) -> Hyperparameters:
        unknown = set(values) - set(self.hparams)
        assert not unknown, f"not hyperparameters of this optimizer: {sorted(unknown)}"
        return Hyperparameters({**self.hparams, **values}, self.lr_max, self.normalized)

    def rows(self, a: int, b: int) -> Hyperparameters:
        """Configs a:b (views): every per-config tensor and `lr_max` sliced, static values as they are."""
        return Hyperparameters({k: v[a:b] if isinstance(v, torch.Tensor) else v for k, v in self.hparams.items()},
                               self.lr_max[a:b], self.normalized)


def hyperparameters(opt, configs: list[dict], dtype, device, lr_max: Tensor | None = None,
                    normalized=()) -> Hyperparameters:
    """The record of K configs' resolved hyperparameter dicts (`configs`) for optimizer `opt`:
    dynamic ones stacked to `[K]` (or `[K, 2]`) tensors, static ones checked equal (a
    `UserError` otherwise). `lr_max`: each config's peak lr, `[K]` (default: its lr, as under a
    constant schedule); `normalized`: the scale-invariant parameters (default: none)."""
    values = {}
    for name in opt.hparams:
        column = [c[name] for c in configs]
        if name in opt.static:
            if any(v != column[0] for v in column):
                raise UserError(f"static hyperparameter {name} differs within one batch: {sorted(set(column))}")
            values[name] = column[0]
        else:
            values[name] = torch.tensor([_as_number(v) for v in column], dtype=dtype, device=device)
    return Hyperparameters(values, values["lr"] if lr_max is None else lr_max, frozenset(normalized))


def _as_number(v):
    if isinstance(v, tuple):
        return [float(x) for x in v]
    return float(v)
