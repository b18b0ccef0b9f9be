"""Hyperparameter schedules: a spec string becomes the value at every step of a run.

    parse("cosine:warmup=100,final=0.1").values(steps, base)  ->  Tensor[steps + 1], float64
    parse(spec).path(steps, base)                                  ->  P_t = Σ_{1≤i≤t} value_i, t = 0…steps

Index t = 1…steps is the value used by the t-th update; index 0 is the value before any update
(base·f(0)). Kinds and their keys (warmups in steps unless said otherwise):

    constant                              f(t) = 1
    cosine:warmup=0,final=0.0             linear warmup t/w, then final + (1−final)(1+cos πs)/2
    linear:warmup=0,final=0.0             linear warmup t/w, then 1 − (1−final)s
    warmup:steps=0                        min(1, t/steps)
    wsd:warmup=0,decay=0.2,final=0.0      warmup–stable–decay: linear warmup t/w, constant, then linear
                                          to final over the last decay·steps steps
    inverse_time:half_life=1000           1/(1 + t/T)
    amos:half_life=1000,form=quadratic    docs/claims.md C4: 1/(α₀pt+1)² or 1/(2α₀p₀t+1), f(T) = 1/2
    epsilon:eps_max=0.01,warmup=0.1,end=0.8,k=0.01
                                          docs/claims.md C14: ε₀ = base, warmup/end fractions of steps
    epsilon_lr:eps0=1e-8,sqrt_v=0.01,eps_max=…  docs/claims.md C14: the lr schedule with the step of
                                          that ε schedule where √v̂ = sqrt_v, (sqrt_v + ε₀)/(sqrt_v + ε(t))

with s = (t − w)/(steps − w) ∈ [0, 1] the progress after warmup. The engine calls `values` once
per config and stacks the tables to `[steps + 1, K]`; `spec` is the canonical string (all keys,
fixed order) used for config hashing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from . import theory
from .options import Option, UserError, format_value, nonneg, positive, resolve


def _warmup(t: Tensor, warmup: int) -> Tensor:
    return (t / warmup).clamp(max=1.0) if warmup > 0 else torch.ones_like(t)


def _progress(t: Tensor, total: int, warmup: int) -> Tensor:
    return ((t - warmup) / max(total - warmup, 1)).clamp(0.0, 1.0)


def _cosine(t, total, base, warmup, final):
    s = _progress(t, total, warmup)
    return base * _warmup(t, warmup) * (final + (1 - final) * (1 + torch.cos(math.pi * s)) / 2)


def _linear(t, total, base, warmup, final):
    return base * _warmup(t, warmup) * (1 - (1 - final) * _progress(t, total, warmup))


def _wsd(t, total, base, warmup, decay, final):
    """Warmup–stable–decay: 1 − (1 − final)·s over the last decay·T steps, s ∈ [0, 1] their progress."""
    start = total * (1 - decay)
    s = ((t - start) / (total - start)).clamp(0.0, 1.0) if decay > 0 else torch.zeros_like(t)
    return base * _warmup(t, warmup) * (1 - (1 - final) * s)


def _warmup_only(t, total, base, steps):
    return base * _warmup(t, steps)


def _amos(t, total, base, half_life, form):
    return base * torch.from_numpy(theory.amos_decay(t.numpy(), theory.amos_half_life_rate(half_life, form), form))


def _epsilon(t, total, base, eps_max, warmup, end, k):
    return torch.from_numpy(theory.epsilon_schedule(t.numpy(), total, base, eps_max, warmup, end, k))


def _epsilon_lr(t, total, base, eps0, sqrt_v, eps_max, warmup, end, k):
    """η_t = η·(√v + ε₀)/(√v + ε(t)): 003's lr ↔ ε equivalence solved for η_t at one √v."""
    eps = theory.epsilon_schedule(t.numpy(), total, eps0, eps_max, warmup, end, k)
    return base * (sqrt_v + eps0) / (sqrt_v + torch.from_numpy(eps))


_fraction = dict(check=lambda x: 0 <= x <= 1, allowed="0 <= x <= 1")
_WARMUP = Option(0, "linear warmup length in steps", **nonneg())
_FINAL = Option(0.0, "final value as a fraction of base", **nonneg())

# kind -> (its keys, values(t, total, base, **keys)) with total = the run's number of steps
KINDS: dict[str, tuple[dict[str, Option], Callable[..., Tensor]]] = {
    "constant": ({}, lambda t, total, base: torch.full_like(t, base)),
    "cosine": ({"warmup": _WARMUP, "final": _FINAL}, _cosine),
    "linear": ({"warmup": _WARMUP, "final": _FINAL}, _linear),
    "warmup": ({"steps": Option(0, "warmup length in steps", **nonneg())}, _warmup_only),
    "wsd": ({"warmup": _WARMUP, "decay": Option(0.2, "fraction of steps of the final linear decay", **_fraction),
             "final": _FINAL}, _wsd),
    "inverse_time": ({"half_life": Option(1000.0, "steps to half the value", **positive())},
                     lambda t, total, base, half_life: base / (1 + t / half_life)),
    "amos": ({"half_life": Option(1000.0, "steps to half the value", **positive()),
              "form": Option("quadratic", "decay law of docs/claims.md C4", choices=theory.AMOS_FORMS)}, _amos),
    "epsilon": ({"eps_max": Option(1e-2, "final epsilon", **positive()),
                 "warmup": Option(0.1, "fraction of steps at base epsilon", **_fraction),
                 "end": Option(0.8, "fraction of steps where eps_max is reached", **_fraction),
                 "k": Option(1e-2, "exponential growth rate per step", **positive())}, _epsilon),
    "epsilon_lr": ({"eps0": Option(1e-8, "initial epsilon of the matched ε schedule", **nonneg()),
                    "sqrt_v": Option(1e-2, "the √v̂ at which the lr step equals the ε schedule's", **positive()),
                    "eps_max": Option(1e-2, "final epsilon", **positive()),
                    "warmup": Option(0.1, "fraction of steps at eps0", **_fraction),
                    "end": Option(0.8, "fraction of steps where eps_max is reached", **_fraction),
                    "k": Option(1e-2, "exponential growth rate per step", **positive())}, _epsilon_lr),
}


@dataclass(frozen=True)
class Schedule:
    kind: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def spec(self) -> str:
        """The canonical spec: every key of the kind, in declaration order."""
        keys = ",".join(f"{k}={format_value(v)}" for k, v in self.params)
        return f"{self.kind}:{keys}" if keys else self.kind

    def values(self, steps: int, base: float) -> Tensor:
        """The hyperparameter at t = 0…steps: Tensor[steps + 1], float64."""
        t = torch.arange(steps + 1, dtype=torch.float64)
        return KINDS[self.kind][1](t, steps, float(base), **dict(self.params)).to(torch.float64)

    def path(self, steps: int, base: float) -> np.ndarray:
        """The path length P_t = Σ_{1 ≤ i ≤ t} value_i at t = 0…steps (P_0 = 0): how far steps of unit
        direction scaled by the schedule travel."""
        return np.concatenate([[0.0], np.cumsum(self.values(steps, base).numpy()[1:])])


def parse(spec: str) -> Schedule:
    """`kind` or `kind:key=value,key=value`; a bad kind, key or value raises `UserError`."""
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip()
    if kind not in KINDS:
        raise UserError(f"unknown schedule {kind!r} in {spec!r}; allowed: {', '.join(KINDS)}")
    given = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise UserError(f"schedule item {item!r} in {spec!r} is not key=value")
        given[key.strip()] = value.strip()
    declared = KINDS[kind][0]
    params = resolve(f"{kind} schedule", declared, given)
    if kind in ("epsilon", "epsilon_lr") and not params["warmup"] <= params["end"]:
        raise UserError(f"epsilon schedule needs warmup <= end, got warmup={params['warmup']}, end={params['end']}")
    return Schedule(kind, tuple((k, params[k]) for k in declared))
