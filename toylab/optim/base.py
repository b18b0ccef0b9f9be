"""The functional optimizer protocol, batched over a leading config axis.

Every tensor carries a leading config axis: parameters, gradients and state are
`dict[name, Tensor[K, *shape]]`; every dynamic hyperparameter is a `Tensor[K]` (booleans as
0./1. floats, pairs such as `betas` as `Tensor[K, 2]`), so one call advances K configurations.
Static hyperparameters (`Option(static=True)`, e.g. the Newton–Schulz step count) are plain
Python values shared by the whole batch.

    state = opt.init(params, hp)
    params, state, aux = opt.update(grads, state, params, hp, step)   # step = 1, 2, ...

`aux` holds per-parameter diagnostics of this step, `aux["direction"][name]`: the update
direction before the learning rate (Adam's m̂/(√v̂+ε), sign(m), Muon's Newton–Schulz output),
which the probes read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..options import Option, UserError

Params = dict[str, Tensor]


@dataclass(frozen=True)
class OptimizerDef:
    name: str
    description: str
    hparams: dict[str, Option]
    init: Callable[[Params, dict], dict]
    update: Callable[[Params, dict, Params, dict, int], tuple[Params, dict, dict]]
    # Returns an error message if the optimizer cannot take a parameter of this (unbatched) shape.
    check_shape: Callable[[str, tuple[int, ...]], str | None] = lambda name, shape: None

    @property
    def static(self) -> set[str]:
        return {k for k, o in self.hparams.items() if o.static}


REGISTRY: dict[str, OptimizerDef] = {}


def register(opt: OptimizerDef) -> OptimizerDef:
    REGISTRY[opt.name] = opt
    return opt


def get(name: str) -> OptimizerDef:
    from . import adamw, muon, sgd, signsgd  # noqa: F401  (registration side effect)

    if name not in REGISTRY:
        raise UserError(f"unknown optimizer {name!r}; valid optimizers: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def names() -> list[str]:
    get("adamw")
    return sorted(REGISTRY)


def bcast(h: Tensor, x: Tensor) -> Tensor:
    """View a per-config `[K]` hyperparameter so it broadcasts against `x: [K, *shape]`."""
    return h.reshape(h.shape[:1] + (1,) * (x.dim() - 1))


def hp_tensors(opt: OptimizerDef, values: list[dict], dtype, device) -> dict:
    """Stack K resolved hyperparameter dicts: dynamic ones to `[K]` (or `[K, 2]`) tensors."""
    out = {}
    for name in opt.hparams:
        column = [v[name] for v in values]
        if name in opt.static:
            if any(c != column[0] for c in column):
                raise UserError(f"static hyperparameter {name} differs within one batch: {sorted(set(column))}")
            out[name] = column[0]
        else:
            out[name] = torch.tensor([_as_number(c) for c in column], dtype=dtype, device=device)
    return out


def _as_number(v):
    if isinstance(v, tuple):
        return [float(x) for x in v]
    return float(v)
