"""Muon: momentum, then Newton–Schulz orthogonalisation, for matrix parameters (docs/claims.md C13);
every other parameter takes an AdamW step, as users pair the two in practice.

Per matrix parameter θ `[K, A, B]`, hyperparameters `[K]`:

    momentum_form="ema" (torch.optim.Muon):   M_t = μ M_{t−1} + (1 − μ) G_t
        nesterov: U = (1 − μ) G_t + μ M_t,   else U = M_t
    momentum_form="sum" (the original Muon):  M_t = μ M_{t−1} + G_t
        nesterov: U = G_t + μ M_t,           else U = M_t
    O = orth(U)  (`orthogonalize`: Newton–Schulz by default, Polar Express or the exact
                  polar factor by SVD; in `ns_dtype`)
    θ ← θ·(1 − η λ) − η·s(A, B)·O,   s = √max(1, A/B) ("original"), 0.2·√max(A, B)
                                         ("match_rms_adamw", RMS like AdamW's), or 1 ("none")

M_0 = 0. Parameters that are not one matrix per config (`[K]`, `[K, n]`, `[K, a, b, c]`) take
`adamw.adam_step` with adamw_lr·η_t/η_max (so they follow the lr schedule), adamw_betas,
adamw_eps and Muon's weight_decay; so `check_shape` accepts every shape. `aux["direction"]` is O
(the AdamW direction for the other parameters).
"""
from __future__ import annotations

import math

import torch

from ..options import Option, betas_check, nonneg, positive, unit_interval
from . import fused
from .adamw import adam_coefficients, adam_step_, fused_adam_step
from .base import OptimizerDef, register, scratch
from .decay import lr_ratio
from .orthogonalize import ORTHOGONALIZERS, from_hparams as orthogonalize

LR_SCALE = {
    "original": lambda A, B: math.sqrt(max(1, A / B)),
    "match_rms_adamw": lambda A, B: 0.2 * math.sqrt(max(A, B)),
    "none": lambda A, B: 1.0,
}
NS_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}

HPARAMS = {
    "lr": Option(1e-3, "learning rate η of the matrix parameters (before the shape scale)",
                 **nonneg()),
    "weight_decay": Option(0.1, "decoupled weight decay λ, per unit lr, of every parameter",
                           **nonneg()),
    "momentum": Option(0.95, "momentum μ of the gradient buffer", **unit_interval()),
    "nesterov": Option(True, "orthogonalise the Nesterov look-ahead instead of the buffer"),
    "momentum_form": Option("ema", "buffer update: ema = μM + (1−μ)G (torch), sum = μM + G "
                            "(original Muon)", choices=("ema", "sum"), static=True),
    "ns_coefficients": Option((3.4445, -4.7750, 2.0315), "a, b, c of the quintic "
                              "X ← aX + (bA + cA²)X", static=True),
    "ns_steps": Option(5, "number of Newton–Schulz (or Polar Express) iterations",
                       check=lambda n: 1 <= n <= 99, allowed="1 to 99", static=True),
    "orthogonalizer": Option("newton_schulz", "U ↦ ≈ polar factor: newton_schulz (quintic, "
                             "ns_coefficients), polar_express (Amsel et al. 2025), svd (exact)",
                             choices=ORTHOGONALIZERS, static=True),
    "pe_safety": Option(1.01, "Polar Express safety factor s: X₀ = U/(s‖U‖_F), p_t(x/s)",
                        check=lambda s: 1 <= s <= 2, allowed="1 to 2", static=True),
    "eps": Option(1e-7, "floor of the Frobenius norm that scales the NS input", **positive()),
    "adjust_lr": Option("original", "shape scale s of the lr: original √max(1, A/B), "
                        "match_rms_adamw 0.2·√max(A, B), none 1",
                        choices=tuple(LR_SCALE), static=True),
    "ns_dtype": Option("auto", "dtype of the NS iteration; auto: the run's dtype for float64 runs, "
                       "else bfloat16 on CUDA, float32 on CPU (bfloat16 matmuls are slow there)",
                       choices=("auto", *NS_DTYPES), static=True),
    "adamw_lr": Option(3e-4, "peak lr of the AdamW step of non-matrix parameters", **nonneg()),
    "adamw_betas": Option((0.9, 0.95), "β1, β2 of the AdamW step of non-matrix parameters",
                          **betas_check()),
    "adamw_eps": Option(1e-10, "ε of the AdamW step of non-matrix parameters", **nonneg()),
}


def _is_matrix(p) -> bool:
    return p.dim() == 3


def init(params, hp):
    matrices = {k: p for k, p in params.items() if _is_matrix(p)}
    others = {k: p for k, p in params.items() if not _is_matrix(p)}
    return {"momentum_buffer": {k: torch.zeros_like(p) for k, p in matrices.items()},
            "exp_avg": {k: torch.zeros_like(p) for k, p in others.items()},
            "exp_avg_sq": {k: torch.zeros_like(p) for k, p in others.items()}}


def ns_dtype(hp, p) -> torch.dtype:
    """`ns_dtype`, or for auto: float64 in a float64 run, else bfloat16 on CUDA, float32 on CPU."""
    if hp["ns_dtype"] != "auto":
        return NS_DTYPES[hp["ns_dtype"]]
    if p.dtype == torch.float64:
        return torch.float64
    return torch.bfloat16 if p.is_cuda else torch.float32


def coefficients(hp, t, name, p):
    lr, wd = hp["lr"].double(), hp["weight_decay"].double()
    if not _is_matrix(p):
        return adam_coefficients(hp["adamw_lr"].double() * lr_ratio(hp, lr), hp["adamw_betas"][..., 0],
                                 hp["adamw_betas"][..., 1], hp["adamw_eps"], wd, t)
    mu = hp["momentum"].double()
    scale = LR_SCALE[hp["adjust_lr"]](*p.shape[1:])
    return {"momentum": mu, "one_minus_momentum": 1 - mu, "nesterov": hp["nesterov"].double(),
            "eps": hp["eps"].double(), "decay": 1 - lr * wd, "neg_lr_scale": -(lr * scale)}


def step_(p, out, g, state, c, step, hp, work, direction):
    if not _is_matrix(p):
        return adam_step_(p, out, g, state["exp_avg"], state["exp_avg_sq"], c, step, work, direction=direction)
    buf, mu, nesterov = state["momentum_buffer"], c["momentum"], c["nesterov"] > 0
    if hp["momentum_form"] == "ema":
        buf.lerp_(g, c["one_minus_momentum"])
        u = torch.where(nesterov, g.lerp(buf, mu), buf)
    else:
        buf.mul_(mu).add_(g)
        u = torch.where(nesterov, g + mu * buf, buf)
    O = orthogonalize(u.to(ns_dtype(hp, p)), hp, c["eps"].flatten()).to(p.dtype)
    torch.mul(p, c["decay"], out=out).addcmul_(c["neg_lr_scale"], O)
    return O if direction else None


def fused_step_(p, out, g, state, c, hp, work, direction):
    """`step_` with its elementwise parts as one pass each: the momentum and look-ahead
    (`fused.muon_momentum`) and θ·(1 − ηλ) − ηs·O (`fused.scale_add`); orthogonalisation as in `step_`."""
    if not _is_matrix(p):
        return fused_adam_step(p, out, g, state["exp_avg"], state["exp_avg_sq"], c, direction)
    K, n = len(p), p[0].numel()
    u = scratch(work, "u", p)
    fused.call("muon_momentum", K, n, g, state["momentum_buffer"], u, int(hp["momentum_form"] == "ema"),
               c["momentum"], c["one_minus_momentum"], c["nesterov"])
    O = orthogonalize(u.to(ns_dtype(hp, p)), hp, c["eps"].flatten()).to(p.dtype).contiguous()
    fused.call("scale_add", K, n, p, out, O, c["decay"], c["neg_lr_scale"])
    return O if direction else None


MUON = register(OptimizerDef(
    name="muon",
    description="Muon (torch.optim.Muon) on matrices, AdamW on the other parameters",
    hparams=HPARAMS, init=init, coefficients=coefficients, step_=step_, fused=lambda hp: fused_step_))
