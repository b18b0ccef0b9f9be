"""The optimizer protocol, batched over a leading config axis, in two forms of one definition.

Every tensor carries a leading config axis: parameters, gradients and state are
`dict[name, Tensor[K, *shape]]`; every dynamic hyperparameter is a `Tensor[K]` (booleans as
0./1. floats, pairs such as `betas` as `Tensor[K, 2]`), so one call advances K configurations.
Static hyperparameters (`Option(static=True)`, e.g. the Newton–Schulz step count) are plain
Python values shared by the whole batch.

An optimizer is defined by two functions:

    coefficients(hp, t, name, p) -> {coefficient: Tensor[..., K]}    float64, e.g. −η_t/(1 − β1^t)
    step_(p, out, g, state, c, step, hp, work, direction) -> u or None
        out ← the updated parameter (out may be p); state tensors updated in place;
        c = the coefficients of this step cast to p's dtype, shaped to broadcast against p;
        work = scratch tensors the step may keep between calls; u = the direction (if asked)

`coefficients` uses only +, −, ×, ÷, √ and `power` (repeated squaring), so a coefficient has
the same bits whether it is computed for one step or for a whole `[steps, K]` table.
From these, two forms that agree bit for bit (`tests/test_inplace.py`):

* the functional view, pure (inputs untouched), for tests and the torch.optim wrappers:

      state = opt.init(params, hp)
      params, state, aux = opt.update(grads, state, params, hp, step)   # step = 1, 2, ...

  `aux["direction"][name]` is the update direction before the learning rate (Adam's
  m̂/(√v̂+ε), sign(m), Muon's Newton–Schulz output), which the probes read;
* `InPlace`, the engine's form: state allocated once, coefficients computed per chunk of steps
  as `[steps, K]` tables in float64 and cast, the direction only when asked for.

An optimizer may also give `fused(hp) -> step or None`: the same update after step 1 as
compiled one-pass kernels (`fused.py`), called like `step_` on tensors viewed in memory order;
it agrees with `step_` to rounding, and each config's result does not depend on the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..options import Option, UserError
from . import fused as fused_kernels

Params = dict[str, Tensor]


@dataclass(frozen=True)
class OptimizerDef:
    name: str
    description: str
    hparams: dict[str, Option]
    init: Callable[[Params, dict], dict]
    coefficients: Callable[[dict, Tensor, str, Tensor], dict[str, Tensor]]
    step_: Callable[..., Tensor | None]
    # Returns an error message if the optimizer cannot take a parameter of this (unbatched) shape.
    check_shape: Callable[[str, tuple[int, ...]], str | None] = lambda name, shape: None
    # The fused form of step_ for these static hyperparameters (None: eager only), see above.
    fused: Callable[[dict], Callable | None] = lambda hp: None

    @property
    def static(self) -> set[str]:
        return {k for k, o in self.hparams.items() if o.static}

    def update(self, grads: Params, state: dict, params: Params, hp: dict, step: int):
        """The functional view: (params, state, aux) after step `step`; the inputs are left alone."""
        t = torch.tensor([step], device=next(iter(params.values())).device)
        new_params, new_state, direction = {}, {s: {} for s in state}, {}
        for k, p in params.items():
            c = {n: bcast(v.to(p.dtype), p) for n, v in self.coefficients(hp, t, k, p).items()}
            own = {s: state[s][k].clone() for s in state if k in state[s]}
            new_params[k] = torch.empty_like(p)
            direction[k] = self.step_(p, new_params[k], grads[k], own, c, step, hp, {}, True)
            for s, v in own.items():
                new_state[s][k] = v
        return new_params, new_state, {"direction": direction}


class InPlace:
    """An optimizer as the engine runs it: preallocated state, coefficient tables per chunk.

    `prepare(first, last)` computes the coefficients of steps first…last as `[steps, K]` tables
    (float64, then cast to the parameters' dtype) and splits them into per-step rows once, so
    that `step(params, out, grads, t)`, which advances every parameter and writes θ_t into `out`
    (which may be `params`), makes no Python-level tensor calls of its own."""

    def __init__(self, opt: OptimizerDef, params: Params, hp: dict, tables: dict[str, Tensor] | None = None,
                 fused: bool = False, state: dict | None = None):
        """`hp`: `[K]` tensors (float64 for the tables' sake) and static values; `tables`: the
        scheduled hyperparameters as `[steps + 1, K]` (index = step), float64. `fused`: steps
        after the first run `opt.fused` where it has a kernel for these settings, dtype and device
        (`fused.available`), else `step_`; `self.fused` says which. `state`: the optimizer
        state to advance (`{state name: {param: Tensor}}`), fresh from `opt.init` by default."""
        self.opt, self.hp, self.schedules = opt, hp, tables or {}
        first = next(iter(params.values()))
        self.fused = opt.fused(hp) if fused and fused_kernels.available(first.dtype, first.device) else None
        self.state = opt.init(params, hp) if state is None else state
        self.own = {k: {s: self.state[s][k] for s in self.state if k in self.state[s]} for k in params}
        self.work: dict[str, dict] = {k: {} for k in params}
        self.like = {k: torch.empty_like(p, device="meta") for k, p in params.items()}
        # The fused kernels read rows of contiguous memory: the fused step sees every tensor
        # viewed in memory order (the steps are elementwise, and Newton–Schulz is
        # transpose-equivariant), and the direction is viewed back.
        self.order = {k: memory_order(p) for k, p in params.items()}
        self.K = len(first)
        self.rows: list[dict[str, dict[str, Tensor]]] = []
        self.first = 1
        self.viewed = False

    def prepare(self, first: int, last: int) -> None:
        """Coefficient tables of steps first…last, as one row `{param: {coefficient: Tensor}}` per step."""
        hp = {**self.hp, **{k: v[first:last + 1] for k, v in self.schedules.items()}}
        device = self.hp["lr"].device
        t = torch.arange(first, last + 1, device=device)[:, None]
        n = last - first + 1
        self.first, self.rows = first, [{} for _ in range(n)]
        for k, like in self.like.items():
            shape = (n, self.K) + (1,) * (like.dim() - 1)
            for c, v in self.opt.coefficients(hp, t, k, like).items():
                table = torch.broadcast_to(v, (n, self.K)).to(like.dtype).reshape(shape)
                if self.fused is not None:  # rows in memory order, as the fused step sees them
                    table = table.permute(0, *(i + 1 for i in self.order[k]))
                for row, value in zip(self.rows, table.unbind(0)):
                    row.setdefault(k, {})[c] = value

    def step(self, params: Params, out: Params, grads: Params, t: int, direction: bool = False) -> dict:
        row = self.rows[t - self.first]
        if self.fused is not None and t > 1 and not self.viewed:  # state and scratch (made at step 1)
            self._view_state()                                            # persist: view them once
        aux = {}
        for k, p in params.items():
            if self.fused is None or t == 1:  # step 1 has its own branches (zero_init) and fills `work`
                c = row[k] if self.fused is None else _view(row[k], _inverse(self.order[k]))
                u = self.opt.step_(p, out[k], grads[k], self.own[k], c, t, self.hp, self.work[k], direction)
            else:
                u = self._fused_step(k, p, out[k], grads[k], row[k], direction)
            if direction:
                aux[k] = u
        return {"direction": aux}

    def _fused_step(self, k, p, out, g, c, direction):
        order = self.order[k]
        g = g.permute(order)
        if not g.is_contiguous():  # a gradient laid out otherwise than its parameter: one copy
            if "gradient" not in self.work[k]:
                self.work[k]["gradient"] = torch.empty(g.shape, dtype=g.dtype, device=g.device)
            g = self.work[k]["gradient"].copy_(g)
        u = self.fused(p.permute(order), out.permute(order), g, self.own[k], c, self.hp, self.work[k], direction)
        return u.permute(_inverse(order)) if u is not None else None

    def _view_state(self) -> None:
        """State and scratch (all shaped like their parameter) viewed in memory order."""
        for k, order in self.order.items():
            self.own[k], self.work[k] = _view(self.own[k], order), _view(self.work[k], order)
        self.viewed = True


def _view(tensors: dict[str, Tensor], order: tuple[int, ...]) -> dict[str, Tensor]:
    return {name: x.permute(order) for name, x in tensors.items()}


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(order)), key=order.__getitem__))


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


def memory_order(x: Tensor) -> tuple[int, ...]:
    """x's dims from the largest stride to the smallest (ties in index order): `x.permute(order)`
    is contiguous whenever x is dense."""
    return tuple(sorted(range(x.dim()), key=lambda i: -x.stride(i)))


def scratch(work: dict, key: str, like: Tensor) -> Tensor:
    """A scratch tensor shaped like `like`, kept in `work` between steps."""
    if key not in work:
        work[key] = torch.empty_like(like)
    return work[key]


def power(base: Tensor, t: Tensor) -> Tensor:
    """base^t for integer steps t ≥ 1 by repeated squaring, float64: products only, so each value
    has the same bits whatever else is computed alongside it."""
    base, t = torch.broadcast_tensors(base.double(), t.to(torch.long))  # (broadcast_shapes imports sympy: 1.5 s)
    result = torch.ones_like(base)
    n_bits = 63 if t.is_cuda else max(1, int(t.max()).bit_length())  # no host sync on CUDA
    for j in range(n_bits):
        result = torch.where((t >> j) & 1 == 1, result * base, result)
        base = base * base
    return result


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
