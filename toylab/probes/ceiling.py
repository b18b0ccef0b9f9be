"""Muon's spectral ceiling, and what ‖W‖_op is made of, per matrix parameter (docs/claims.md C15).

Muon's step with decoupled decay is W_t = (1 − η_tλ)W_{t−1} + η_tλ·(−s O_t/λ), with s the shape
scale of its lr (`adjust_lr`, `optim/muon.LR_SCALE`) and O_t its (≈ orthogonal) direction. While
η_tλ ≤ 1 this is a convex combination, so the spectral-norm ball of radius s·ρ/λ, ρ = sup_t ‖O_t‖_op
(1 for the exact polar factor), is never left once entered, and is entered geometrically
(`theory.muon_spectral_ceiling`). Per 2-D parameter `[K, m, n]`, in float64:

    op_norm        ‖W_t‖_op, the largest singular value (`op_norm`: SVD, rounding-level accurate)
    ceiling_ratio  λ‖W_t‖_op/s: ≤ ρ beyond the transient; 0 without decay            (Muon only)
    update_scale   ‖W_t − (1 − η_tλ)W_{t−1}‖_op/η_t = s‖O_t‖_op, the spectral norm of the applied
                   update per unit lr, so update_scale/s is the ρ of step t            (Muon only)
    row_norms      ‖w_i‖₂ of each row i of W_t (index = i)
    alignment      ‖W_t‖_op²/Σ_i ‖w_i‖² = Σ_i ‖w_i‖² cos²(w_i, v₁)/Σ_i ‖w_i‖², v₁ the top right
                   singular vector: how much of the row norms lines up with one direction;
                   in [1/rank, 1], 1 for a rank-one W (without decay ‖W_t‖_op² = alignment·Σ‖w_i‖²)
"""
from __future__ import annotations

import torch

from . import Context, Probe, two_dimensional
from ..optim.base import bcast
from ..optim.muon import LR_SCALE


def op_norm(W: torch.Tensor) -> torch.Tensor:
    """‖W‖_op of each matrix of `W: [N, m, n]`, float64 (the top singular value, by SVD)."""
    return torch.linalg.matrix_norm(W.double(), ord=2)


def measure(ctx: Context) -> dict:
    out = {}
    for name in two_dimensional(ctx.params):
        W, before = ctx.params[name].double(), ctx.params_before[name].double()
        K, m, n = W.shape
        if ctx.optimizer == "muon":
            lr, wd = ctx.hp["lr"].double(), ctx.hp["weight_decay"].double()
            applied = (W - bcast(1 - lr * wd, W) * before) / bcast(lr, W)
            norms = op_norm(torch.cat([W, applied]))
            scale = LR_SCALE[ctx.hp["adjust_lr"]](m, n)
            out[("ceiling_ratio", name)] = wd * norms[:K] / scale
            out[("update_scale", name)] = norms[K:]
        else:
            norms = op_norm(W)
        rows = torch.linalg.vector_norm(W, dim=-1)
        out[("op_norm", name)] = norms[:K]
        out[("row_norms", name)] = rows
        out[("alignment", name)] = norms[:K] ** 2 / (rows * rows).sum(-1)
    return out


PROBE = Probe("ceiling", ("quantity", "param"), measure,
              "Muon's spectral ceiling λ‖W‖_op/s and update scale ‖ΔW + ηλW‖_op/η; ‖W‖_op, row norms, "
              "alignment ‖W‖_op²/Σ‖w_i‖²",
              {"quantity": ("op_norm", "ceiling_ratio", "update_scale", "row_norms", "alignment")})
