"""AdamW with the bias-correction / zero-init switches of SCIENCE.md C11, the nested moving
average of C14, and corrected decay (AdamC, C8).

Per parameter, shapes `[K, *shape]`, hyperparameters `[K]`, step t = 1, 2, ...:

    θ ← θ·(1 − η λ_t)                         decoupled decay, λ_t from `decay.decay_rate`
    v_t = β2 v_{t−1} + (1 − β2) g_t²          v̂_t = v_t / (1 − β2^t)
    x_t = g_t            (or g_t/(√v̂_t + ε) with nested_ema, C14)
    m_t = β1 m_{t−1} + (1 − β1) x_t           m̂_t = m_t / (1 − β1^t)
    u_t = m̂_t/(√v̂_t + ε)  (or m̂_t with nested_ema)          θ ← θ − η u_t

amsgrad=True (AMSGrad, torch's `amsgrad`) divides by √(v̂_max) + ε instead, with
v_max,t = max(v_max,t−1, v_t), v_max,0 = 0 (state `max_exp_avg_sq`).

bias_correction=False drops both (1 − β^t) divisors; zero_init=False starts each moving average
at its first input (m₀ = x₁, v₀ = g₁²) instead of 0, so m₁ = x₁ (C11 first-step table). The op
order is torch.optim.AdamW's (single-tensor path), so the default switches agree with it to
rounding. `aux["direction"]` is u_t; for zero-mean i.i.d. gradients and ε → 0 its RMS tends to
√((1 − β1)/(1 + β1)) (C1).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..options import Option, betas_check, nonneg
from .base import OptimizerDef, bcast, register
from .decay import decay_rate

HPARAMS = {
    "lr": Option(1e-3, "learning rate η: step size multiplying the update direction", **nonneg()),
    "betas": Option((0.9, 0.999), "β1, β2: decay rates of the moving averages of g and g²",
                    **betas_check()),
    "eps": Option(1e-8, "ε added to √v̂ in the denominator (gradient units)", **nonneg()),
    "weight_decay": Option(1e-2, "decoupled weight decay λ, per unit lr: θ ← θ(1 − ηλ)", **nonneg()),
    "bias_correction": Option(True, "divide m and v by (1 − β^t) (C11)"),
    "zero_init": Option(True, "start the moving averages at 0; false: at their first input (C11)"),
    "corrected_decay": Option(False, "AdamC: λ_t = λ·η_t/η_max on normalized parameters (C8)"),
    "nested_ema": Option(False, "direction = EMA_β1(g/(√v̂ + ε)) instead of m̂/(√v̂ + ε) (C14)",
                         static=True),  # another algorithm, not a switch: a per-config mask would cost 2 passes
    "amsgrad": Option(False, "AMSGrad: divide by the running maximum of v instead of v (torch's amsgrad)",
                      static=True),  # it adds a state tensor
}


def adam_step(p: Tensor, g: Tensor, m: Tensor, v: Tensor, step: int, *, lr: Tensor, beta1: Tensor,
              beta2: Tensor, eps: Tensor, weight_decay: Tensor, bias_correction: Tensor | None = None,
              zero_init: Tensor | None = None, nested_ema: bool = False, v_floor: Tensor | None = None):
    """One AdamW step of one parameter `[K, *shape]`; returns (θ, m, v, u). Switches left as
    None take their torch values (bias correction on, zero init, plain EMA of g). With
    `v_floor` (AMSGrad's v_max,t−1) the denominator uses max(v_floor, v_t) instead of v_t."""
    def b(h):
        return bcast(h, p)

    p = p * b(1 - lr * weight_decay)
    bc1, bc2 = 1 - beta1**step, 1 - beta2**step
    if bias_correction is not None:
        bc1 = torch.where(bias_correction > 0, bc1, 1.0)
        bc2 = torch.where(bias_correction > 0, bc2, 1.0)
    fresh = zero_init is not None and step == 1
    if fresh:
        v = torch.where(b(zero_init) > 0, v, g * g)
    # Out of place first (the step is pure), then in place on the fresh tensor: fewer passes.
    v = torch.mul(v, b(beta2)).addcmul_(b(1 - beta2) * g, g)
    denom = (v if v_floor is None else torch.maximum(v_floor, v)).sqrt().div_(b(bc2**0.5)).add_(b(eps))
    x = g / denom if nested_ema else g
    if fresh:
        m = torch.where(b(zero_init) > 0, m, x)
    m = m.lerp(x, b(1 - beta1))
    if nested_ema:  # the EMA of normalised gradients is itself the direction
        u = torch.div(m, b(bc1))
        return p.add_(b(-lr) * u), m, v, u
    p = p.addcdiv_(b(-lr / bc1) * m, denom)
    return p, m, v, torch.div(m, b(bc1)).div_(denom)


def init(params: dict[str, Tensor], hp: dict) -> dict:
    names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if hp.get("amsgrad") else [])
    return {n: {k: torch.zeros_like(p) for k, p in params.items()} for n in names}


def update(grads, state, params, hp, step):
    new_params, m, v, direction = {}, {}, {}, {}
    v_max = state.get("max_exp_avg_sq")
    for k, p in params.items():
        new_params[k], m[k], v[k], direction[k] = adam_step(
            p, grads[k], state["exp_avg"][k], state["exp_avg_sq"][k], step,
            lr=hp["lr"], beta1=hp["betas"][:, 0], beta2=hp["betas"][:, 1], eps=hp["eps"],
            weight_decay=decay_rate(hp, k, hp["lr"], hp["weight_decay"]),
            bias_correction=hp["bias_correction"], zero_init=hp["zero_init"],
            nested_ema=hp["nested_ema"], v_floor=None if v_max is None else v_max[k])
    new_state = {"exp_avg": m, "exp_avg_sq": v}
    if v_max is not None:  # AMSGrad
        new_state["max_exp_avg_sq"] = {k: torch.maximum(v_max[k], v[k]) for k in v}
    return new_params, new_state, {"direction": direction}


ADAMW = register(OptimizerDef(
    name="adamw",
    description="AdamW (torch.optim.AdamW) with bias-correction, zero-init, nested-EMA and "
                "corrected-decay switches",
    hparams=HPARAMS, init=init, update=update))
