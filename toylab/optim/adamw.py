"""AdamW with the bias-correction / zero-init switches of docs/claims.md C11, the nested moving
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
at its first input (m₀ = x₁, v₀ = g₁²) instead of 0, so m₁ = x₁ (C11 first-step table). With the
default switches this is torch.optim.AdamW (single-tensor path), agreeing with it to rounding:
both moving averages are `lerp`s (torch writes v's as β2·v + (1 − β2)·g², one pass more). `aux["direction"]` is u_t; for zero-mean i.i.d. gradients and ε → 0 its RMS tends to
√((1 − β1)/(1 + β1)) (C1).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..options import Option, betas_check, nonneg
from . import fused
from .base import OptimizerDef, bcast, power, register, scratch
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


def adam_coefficients(lr, beta1, beta2, eps, weight_decay, t, bias_correction=None) -> dict[str, Tensor]:
    """The per-step scalars of `adam_step_`, float64: decay 1 − ηλ, the bias corrections
    1 − β^t (1 where bias_correction is off) and −η/(1 − β1^t), as torch.optim.AdamW computes them."""
    lr, beta1, beta2, eps, weight_decay = (x.double() for x in (lr, beta1, beta2, eps, weight_decay))
    bc1, bc2 = 1 - power(beta1, t), 1 - power(beta2, t)
    if bias_correction is not None:
        on = bias_correction.double() > 0
        bc1, bc2 = torch.where(on, bc1, 1.0), torch.where(on, bc2, 1.0)
    return {"decay": 1 - lr * weight_decay, "one_minus_beta2": 1 - beta2,
            "bc2_sqrt": bc2.sqrt(), "eps": eps, "one_minus_beta1": 1 - beta1, "bc1": bc1,
            "neg_step_size": -lr / bc1, "neg_lr": -lr}


def adam_step_(p: Tensor, out: Tensor, g: Tensor, m: Tensor, v: Tensor, c: dict, step: int, work: dict,
               zero_init: Tensor | None = None, nested_ema: bool = False, direction: bool = True,
               v_max: Tensor | None = None) -> Tensor | None:
    """One AdamW step of one parameter `[K, *shape]` in place: out ← θ_t (out may be p), m and v
    updated; returns u_t when `direction`. Coefficients `c` from `adam_coefficients`; zero_init
    None is torch's (zero init). With `v_max` (AMSGrad) v_max ← max(v_max, v_t) divides instead of v_t."""
    torch.mul(p, c["decay"], out=out)
    fresh = zero_init is not None and step == 1
    if fresh:
        v.copy_(torch.where(zero_init > 0, v, g * g))
    tmp, denom = scratch(work, "tmp", p), scratch(work, "denom", p)
    v.lerp_(torch.mul(g, g, out=tmp), c["one_minus_beta2"])  # β2·v + (1 − β2)·g² in two passes
    if v_max is not None:
        torch.maximum(v_max, v, out=v_max)
    torch.sqrt(v if v_max is None else v_max, out=denom).div_(c["bc2_sqrt"]).add_(c["eps"])
    x = torch.div(g, denom, out=tmp) if nested_ema else g
    if fresh:
        m.copy_(torch.where(zero_init > 0, m, x))
    m.lerp_(x, c["one_minus_beta1"])
    if nested_ema:  # the EMA of normalised gradients is itself the direction
        u = torch.div(m, c["bc1"], out=tmp)
        out.addcmul_(c["neg_lr"], u)
        return u.clone() if direction else None
    out.addcmul_(torch.div(m, denom, out=tmp), c["neg_step_size"])  # torch's θ + (−η/(1 − β1^t))·(m/denom)
    return torch.div(m, c["bc1"]).div_(denom) if direction else None


def adam_step(p: Tensor, g: Tensor, m: Tensor, v: Tensor, step: int, *, lr: Tensor, beta1: Tensor,
              beta2: Tensor, eps: Tensor, weight_decay: Tensor, bias_correction: Tensor | None = None,
              zero_init: Tensor | None = None, nested_ema: bool = False):
    """One AdamW step of one parameter `[K, *shape]`, pure; returns (θ, m, v, u). Switches left as
    None take their torch values (bias correction on, zero init, plain EMA of g)."""
    t = torch.tensor([step], device=p.device)
    c = {n: bcast(x.to(p.dtype), p) for n, x in
         adam_coefficients(lr, beta1, beta2, eps, weight_decay, t, bias_correction).items()}
    m, v, out = m.clone(), v.clone(), torch.empty_like(p)
    u = adam_step_(p, out, g, m, v, c, step, {}, None if zero_init is None else bcast(zero_init, p), nested_ema)
    return out, m, v, u


def init(params: dict[str, Tensor], hp: dict) -> dict:
    names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if hp.get("amsgrad") else [])
    return {n: {k: torch.zeros_like(p) for k, p in params.items()} for n in names}


def coefficients(hp, t, name, p):
    c = adam_coefficients(hp["lr"], hp["betas"][..., 0], hp["betas"][..., 1], hp["eps"],
                          decay_rate(hp, name, hp["lr"].double(), hp["weight_decay"].double()), t,
                          hp["bias_correction"])
    return c | {"zero_init": hp["zero_init"].double()}


def step_(p, out, g, state, c, step, hp, work, direction):
    return adam_step_(p, out, g, state["exp_avg"], state["exp_avg_sq"], c, step, work, c["zero_init"],
                      hp["nested_ema"], direction, state.get("max_exp_avg_sq"))


def fused_adam_step(p, out, g, m, v, c, direction):
    """`adam_step_` after step 1 (no zero_init branch), plain EMA of g, as one pass (`fused.adamw`)."""
    u = torch.empty_like(p) if direction else None
    fused.call("adamw", len(p), p[0].numel(), p, out, g, m, v, u, c["decay"], c["one_minus_beta2"], c["bc2_sqrt"],
               c["eps"], c["one_minus_beta1"], c["neg_step_size"], c["bc1"])
    return u


def fused_step(hp):
    """The fused step (steps ≥ 2), or None for AMSGrad and nested_ema, which run eagerly."""
    if hp["amsgrad"] or hp["nested_ema"]:
        return None
    return lambda p, out, g, state, c, hp, work, direction: fused_adam_step(
        p, out, g, state["exp_avg"], state["exp_avg_sq"], c, direction)


ADAMW = register(OptimizerDef(
    name="adamw",
    description="AdamW (torch.optim.AdamW) with bias-correction, zero-init, nested-EMA and "
                "corrected-decay switches",
    hparams=HPARAMS, init=init, coefficients=coefficients, step_=step_, fused=fused_step))
