"""SignSGD and Signum (sign of momentum) with decoupled weight decay, docs/claims.md C3.

Per parameter, shapes `[K, *shape]`, hyperparameters `[K]`:

    m_t = β m_{t−1} + (1 − β) g_t,  m_0 = 0          (β = 0: m_t = g_t, plain SignSGD)
    u_t = sign(m_t)                  θ ← θ·(1 − η λ) − η u_t

C3's steady state for zero-mean gradients: RMS(θ) ≈ √(η/(2λ) · (1+β)/(1−β)).
`aux["direction"]` is u_t.
"""
from __future__ import annotations

import torch

from ..options import Option, nonneg, unit_interval
from . import fused
from .base import OptimizerDef, register, scratch

HPARAMS = {
    "lr": Option(1e-3, "learning rate η: step size multiplying sign(m)", **nonneg()),
    "momentum": Option(0.0, "β of the gradient moving average m (0: SignSGD, > 0: Signum)",
                       **unit_interval()),
    "weight_decay": Option(0.0, "decoupled weight decay λ, per unit lr: θ ← θ(1 − ηλ)", **nonneg()),
}


def init(params, hp):
    return {"exp_avg": {k: torch.zeros_like(p) for k, p in params.items()}}


def coefficients(hp, t, name, p):
    lr = hp["lr"].double()
    return {"one_minus_momentum": 1 - hp["momentum"].double(), "decay": 1 - lr * hp["weight_decay"].double(),
            "neg_lr": -lr}


def step_(p, out, g, state, c, step, hp, work, direction):
    m = state["exp_avg"].lerp_(g, c["one_minus_momentum"])
    u = torch.sign(m, out=scratch(work, "u", p))
    torch.mul(p, c["decay"], out=out).addcmul_(c["neg_lr"], u)
    return u.clone() if direction else None


def fused_step_(p, out, g, state, c, hp, work, direction):
    """`step_` as one pass (`fused.signsgd`)."""
    u = torch.empty_like(p) if direction else None
    fused.call("signsgd", len(p), p[0].numel(), p, out, g, state["exp_avg"], u, c["one_minus_momentum"], c["decay"],
               c["neg_lr"])
    return u


SIGNSGD = register(OptimizerDef(
    name="signsgd",
    description="SignSGD / Signum: θ ← θ(1 − ηλ) − η·sign(EMA_β(g))",
    hparams=HPARAMS, init=init, coefficients=coefficients, step_=step_, fused=lambda hp: fused_step_))
