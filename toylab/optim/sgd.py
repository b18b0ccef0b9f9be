"""SGD with momentum, dampening, Nesterov, coupled or decoupled decay, and SGDC (SCIENCE.md C8).

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
from .base import OptimizerDef, bcast, register
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


def update(grads, state, params, hp, step):
    new_params, bufs, direction = {}, {}, {}
    for k, p in params.items():
        def b(h):
            return bcast(h, p)

        g, lr = grads[k], hp["lr"]
        decay = decay_rate(hp, k, lr, hp["weight_decay"])
        decoupled = b(hp["decoupled_decay"]) > 0
        g = torch.where(decoupled, g, g + b(decay) * p)
        p = torch.where(decoupled, p * b(1 - lr * decay), p)
        momentum = b(hp["momentum"])
        buf = g if step == 1 else state["momentum_buffer"][k] * momentum + b(1 - hp["dampening"]) * g
        u = torch.where(b(hp["nesterov"]) > 0, g + momentum * buf, buf)
        u = torch.where(momentum != 0, u, g)
        new_params[k], bufs[k], direction[k] = p - b(lr) * u, buf, u
    return new_params, {"momentum_buffer": bufs}, {"direction": direction}


SGD = register(OptimizerDef(
    name="sgd",
    description="SGD (torch.optim.SGD) with coupled or decoupled decay and SGDC",
    hparams=HPARAMS, init=init, update=update))
