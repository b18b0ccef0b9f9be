"""Norms, RMS and angles of weights, gradients and updates, per parameter (docs/claims.md C1–C8).

With θ_{t−1} the weights the gradient g_t was taken at, θ_t the weights after the update,
Δθ_t = θ_t − θ_{t−1} the applied update (lr and decay included), u_t the optimizer's
direction before the learning rate (`aux["direction"]`) and RMS(x) = ‖x‖₂/√d:

    rms_weights      RMS(θ_t)                   rms_update     RMS(Δθ_t)
    rms_grad         RMS(g_t)                   rms_direction  RMS(u_t)        (C1: ≈ √((1−β1)/(1+β1)))
    grad_to_weights  ‖g_t‖/‖θ_{t−1}‖  (C5–C8)   linf_weights   ‖θ_t‖_∞         (C7)
    cos_grad_weights cos(g_t, θ_{t−1})          cos_update_weights  cos(Δθ_t, θ_{t−1})
    dist_to_opt      ‖θ_t − θ*‖_F, when the problem knows θ*
    adam_grad_to_weights  ‖g_t‖_{A⁻¹}/‖θ_{t−1}‖_A with A = √v̂_t + ε, AdamW's diagonal
                     preconditioner (v̂ = v/(1−β2^t) with bias correction), AdamW only  (C7)

Each is a `Tensor[K]`; a zero norm in a denominator gives inf or NaN, as it should.
"""
from __future__ import annotations

import torch

from . import Context, Probe, minus_optimum


def _dims(x):
    """Every dim but the config axis (reduced in memory order, without a flattening copy)."""
    return tuple(range(1, x.dim()))


def _norm(x):
    return torch.linalg.vector_norm(x, dim=_dims(x))


def _dot(a, b):
    return (a * b).sum(_dims(a))


def _adam_preconditioner(ctx: Context, name: str):
    """A = √v̂_t + ε of AdamW (diagonal, same shape as the parameter), or None for other optimizers."""
    v = ctx.state.get("exp_avg_sq", {}).get(name)
    if ctx.optimizer != "adamw" or v is None:
        return None
    shape = (-1,) + (1,) * (v.dim() - 1)
    correction = 1 - ctx.hp["betas"][:, 1] ** ctx.step
    correction = torch.where(ctx.hp["bias_correction"] > 0, correction, torch.ones_like(correction))
    # the [K] factors in v's dtype: a float32 run's A in float32 (no widened [K, n] copy), ≈ 1e-7 relative
    return (v * correction.reciprocal().to(v.dtype).view(shape)).sqrt_().add_(ctx.hp["eps"].to(v.dtype).view(shape))


def measure(ctx: Context) -> dict:
    """Each norm and inner product once, in the run's dtype (float32: ≈ 1e-6 relative, tested
    against float64); ‖g‖_{A⁻¹}/‖θ‖_A = √(⟨g/A, g⟩ / ⟨θA, θ⟩), without √A."""
    out = {}
    directions = ctx.aux.get("direction", {})
    for name, theta in ctx.params.items():
        before, g = ctx.params_before[name], ctx.grads[name]
        update = theta - before
        root_d = theta[0].numel() ** 0.5
        n_theta, n_update, n_grad, n_before = _norm(theta), _norm(update), _norm(g), _norm(before)
        values = {
            "rms_weights": n_theta / root_d,
            "rms_update": n_update / root_d,
            "rms_grad": n_grad / root_d,
            "grad_to_weights": n_grad / n_before,
            "linf_weights": theta.abs().amax(_dims(theta)),
            "cos_grad_weights": _dot(g, before) / (n_grad * n_before),
            "cos_update_weights": _dot(update, before) / (n_update * n_before),
        }
        if name in directions:
            values["rms_direction"] = _norm(directions[name]) / root_d
        A = _adam_preconditioner(ctx, name)
        if A is not None:
            values["adam_grad_to_weights"] = (_dot(g / A, g) / _dot(before * A, before)).sqrt()
        distance = minus_optimum(ctx, name, theta)
        if distance is not None:
            values["dist_to_opt"] = _norm(distance)
        out.update({(quantity, name): v for quantity, v in values.items()})
    return out


PROBE = Probe("norms", ("quantity", "param"), measure,
              "RMS of weights, updates, gradients and directions; ‖g‖/‖θ‖, ‖θ‖_∞, cosines, distance to θ*",
              {"quantity": ("rms_weights", "rms_update", "rms_grad", "grad_to_weights", "linf_weights",
                            "cos_grad_weights", "cos_update_weights", "rms_direction", "adam_grad_to_weights",
                            "dist_to_opt")})
