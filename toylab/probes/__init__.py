"""Probes: measurements taken inside the batched loop, recorded as tidy tables.

A probe is a function of a `Context` (one step of K configurations, after the update) that
returns `{key: Tensor[K] or Tensor[K, n]}`, where `key` is a tuple of labels named by the
probe's `columns` (e.g. `("quantity", "param")`) and a trailing axis `n` becomes the `index`
column (a spectrum). Probes run on the device and never synchronise with the host; `Recorder`
turns everything into one DataFrame per probe at the end of the run.

Step convention: the engine calls the probes after the update of step t for t = 1, every
`probe_every`-th step, and the last step, so `step` means "after t updates" as in the metrics
table (step 1 shows the first-step state of the moments, docs/claims.md C11).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from ..options import UserError


@dataclass(frozen=True)
class Context:
    """One probed step of K configs; every tensor has the leading config axis `[K, ...]`."""
    problem: object  # toylab.problems.Problem
    optimizer: str
    step: int
    params_before: dict[str, Tensor]  # θ_{t−1}
    params: dict[str, Tensor]  # θ_t, after the update (frozen configs keep their last point)
    grads: dict[str, Tensor]  # g_t, the minibatch gradient at θ_{t−1}
    batch: dict[str, Tensor]  # the minibatch of step t, [K, B, ...]
    state: dict  # optimizer state after the update (e.g. exp_avg, exp_avg_sq, momentum_buffer)
    aux: dict  # aux["direction"][name]: the update direction before the learning rate
    hp: Mapping  # hyperparameters at step t, [K] tensors (an `optim.Hyperparameters`)
    data: list[dict[str, Tensor]]  # per distinct seed: the problem's data
    groups: list[Tensor]  # per distinct seed: the indices of its configs


@dataclass(frozen=True)
class Probe:
    name: str  # also the name of its table (<name>.parquet in a run folder)
    columns: tuple[str, ...]  # names of the labels of each key
    measure: Callable[[Context], dict[tuple[str, ...], Tensor]]
    description: str
    # the values each label column other than param takes (quantity, moments, reference), as
    # `toylab list` shows them; a probe records those its optimizer and problem allow
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _registry() -> dict[str, Probe]:
    from . import ceiling, moments, norms, orthogonality, spectra, weights

    return {p.name: p for p in (norms.PROBE, spectra.PROBE, moments.PROBE, weights.PROBE, orthogonality.PROBE,
                                ceiling.PROBE)}


def names() -> list[str]:
    return sorted(_registry())


def get(requested: tuple[str, ...] | list[str]) -> list[Probe]:
    """The probes named in `requested`, in order; an unknown name is a `UserError`."""
    registry = _registry()
    for name in requested:
        if name not in registry:
            raise UserError(f"unknown probe {name!r}; valid probes: {', '.join(sorted(registry))}")
    return [registry[name] for name in dict.fromkeys(requested)]


def two_dimensional(params: dict[str, Tensor]) -> list[str]:
    """Names of the matrix parameters (`[K, m, n]`)."""
    return [k for k, p in params.items() if p.dim() == 3]


def momentum_of(state: dict, name: str) -> Tensor | None:
    """Parameter `name`'s momentum buffer or first moment, if its optimizer keeps one
    (`momentum_buffer` of SGD, SignSGD and Muon's matrices; `exp_avg` of AdamW)."""
    for key in ("momentum_buffer", "exp_avg"):
        if name in state.get(key, {}):
            return state[key][name]
    return None


def seed_rows(idx: Tensor) -> slice | Tensor:
    """A seed's configs: a slice (a view) where they are consecutive, as the engine orders them
    on the CPU, else the index tensor (a gather; never checked on a GPU, which would wait for it)."""
    if idx.device.type == "cpu" and len(idx) and int(idx[-1]) - int(idx[0]) + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def minus_optimum(ctx: Context, name: str, x: Tensor) -> Tensor | None:
    """x − θ* of each config's seed, `[K, *shape]` in x's layout, where the problem has
    `optimum(data)`: one subtraction per seed on its configs' rows, θ* broadcast (no `[K]` copy of it)."""
    if not hasattr(ctx.problem, "optimum"):
        return None
    out = torch.empty_like(x)
    for rows, data in zip(map(seed_rows, ctx.groups), ctx.data):
        optimum = ctx.problem.optimum(data)[name].to(x.dtype)
        if isinstance(rows, slice):
            torch.sub(x[rows], optimum, out=out[rows])
        else:
            out[rows] = x[rows] - optimum
    return out
