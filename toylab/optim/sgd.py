"""SGD with momentum, dampening, Nesterov, coupled or decoupled decay, and SGDC (docs/claims.md C8).

Per parameter, shapes `[K, *shape]`, hyperparameters `[K]`, step t = 1, 2, ...:

    coupled decay:    g ← g + λ_t θ               decoupled decay:  θ ← θ·(1 − η λ_t)
    b_1 = g,   b_t = μ b_{t−1} + (1 − τ) g        (no dampening on the first step, as torch)
    u = g + μ b_t (nesterov),  b_t (μ > 0),  g (μ = 0)               θ ← θ − η u

λ_t is λ, or λ·η_t/η_max on normalized parameters with corrected_decay (C8). With the default
switches this is torch.optim.SGD (agreeing to rounding). `aux["direction"]` is u.
"""
from __future__ import annotations

import torch

from ..options import Option, UserError, nonneg, unit_interval
from . import fused
from .base import OptimizerDef, register, scratch
from .decay import decay_rate

HPARAMS = {
    "lr": Option(1e-2, "learning rate η: step size multiplying the update direction", **nonneg()),
    "momentum": Option(0.0, "momentum μ: weight of the previous buffer", **unit_interval()),
    "dampening": Option(0.0, "dampening τ: the new gradient enters the buffer times (1 − τ)",
                        **unit_interval()),
    "nesterov": Option(False, "Nesterov momentum u = g + μb (needs μ > 0 and τ = 0)"),
    "weight_decay": Option(0.0, "weight decay λ: coupled g + λθ, or decoupled θ(1 − ηλ)", **nonneg()),
    "decoupled_decay": Option(False, "decoupled decay θ ← θ(1 − ηλ) instead of g ← g + λθ"),
    "corrected_decay": Option(False, "SGDC: λ_t = λ·η_t/η_max on normalized parameters (C8)"),
}


def init(params, hp):
    bad = (hp["nesterov"] > 0) & ((hp["momentum"] <= 0) | (hp["dampening"] != 0))
    if bad.any():
        raise UserError("sgd: nesterov=true needs momentum > 0 and dampening = 0")
    return {"momentum_buffer": {k: torch.zeros_like(p) for k, p in params.items()}}


def coefficients(hp, t, name, p):
    """The switches as per-config coefficients, so each step is six fused passes:
    g' = g + c·θ,   b = μb + (1 − τ)g',   u = α·g' + β·b,   θ' = s·θ + (−ηα)·g' + (−ηβ)·b."""
    lr, momentum = hp["lr"].double(), hp["momentum"].double()
    decoupled, nesterov = hp["decoupled_decay"] > 0, hp["nesterov"] > 0
    decay = decay_rate(hp, name, lr, hp["weight_decay"].double())
    c = {"coupled": torch.where(decoupled, 0.0, decay), "momentum": momentum,
         "one_minus_dampening": 1 - hp["dampening"].double(),
         "alpha": torch.where(nesterov | (momentum == 0), 1.0, 0.0).double(),
         "beta": torch.where(momentum == 0, 0.0, torch.where(nesterov, momentum, 1.0)),
         "shrink": torch.where(decoupled, 1 - lr * decay, 1.0)}
    return c | {"neg_lr_alpha": -lr * c["alpha"], "neg_lr_beta": -lr * c["beta"]}


def step_(p, out, g, state, c, step, hp, work, direction):
    g = torch.addcmul(g, c["coupled"], p, out=scratch(work, "g", p))
    buf = state["momentum_buffer"]
    if step == 1:
        buf.copy_(g)
    else:
        buf.mul_(c["momentum"]).addcmul_(c["one_minus_dampening"], g)
    u = torch.mul(g, c["alpha"]).addcmul_(c["beta"], buf) if direction else None
    torch.mul(p, c["shrink"], out=out).addcmul_(c["neg_lr_alpha"], g).addcmul_(c["neg_lr_beta"], buf)
    return u


def fused_step_(p, out, g, state, c, hp, work, direction):
    """`step_` after step 1 as one pass (`fused.sgd`)."""
    u = torch.empty_like(p) if direction else None
    fused.call("sgd", len(p), p[0].numel(), p, out, g, state["momentum_buffer"], u, c["coupled"], c["momentum"],
               c["one_minus_dampening"], c["alpha"], c["beta"], c["shrink"], c["neg_lr_alpha"], c["neg_lr_beta"])
    return u


SGD = register(OptimizerDef(
    name="sgd",
    description="SGD (torch.optim.SGD) with coupled or decoupled decay and SGDC",
    hparams=HPARAMS, init=init, coefficients=coefficients, step_=step_, fused=lambda hp: fused_step_))
