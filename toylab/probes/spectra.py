"""Singular values of the matrices of one step, per matrix parameter (SCIENCE.md C13).

For each 2-D parameter (`[K, m, n]`), in float64, batched over the config axis with
`torch.linalg.svdvals`, σ_1 ≥ … ≥ σ_min(m,n) (the `index` column) of

    grad               G_t, the minibatch gradient
    momentum           the optimizer's first moment / momentum buffer, when it keeps one
    update             θ_t − θ_{t−1}, the applied update
    direction          u_t before the learning rate (for Muon the Newton–Schulz output O_t)
    weights            W_t
    weights_minus_opt  W_t − W*, when the problem knows W*

and one scalar row, `orthogonality_error` = ‖OᵀO − I‖_F of the direction O (index 0), which
is √Σ_i (σ_i² − 1)² in terms of its singular values: 0 exactly when O is semi-orthogonal.
"""
from __future__ import annotations

import torch

from . import Context, Probe, momentum_of, optimum_of, two_dimensional


def matrices(ctx: Context, name: str) -> dict[str, torch.Tensor]:
    """The `[K, m, n]` matrices whose spectra are recorded for parameter `name`."""
    theta = ctx.params[name]
    out = {"grad": ctx.grads[name]}
    momentum = momentum_of(ctx.state, name)
    if momentum is not None:
        out["momentum"] = momentum
    out["update"] = theta - ctx.params_before[name]
    if name in ctx.aux.get("direction", {}):
        out["direction"] = ctx.aux["direction"][name]
    out["weights"] = theta
    optimum = optimum_of(ctx)
    if optimum is not None:
        out["weights_minus_opt"] = theta - optimum[name]
    return out


def measure(ctx: Context) -> dict:
    out = {}
    for name in two_dimensional(ctx.params):
        mats = matrices(ctx, name)
        sigma = torch.linalg.svdvals(torch.cat(list(mats.values())).to(torch.float64))  # [J·K, r]
        for which, s in zip(mats, sigma.chunk(len(mats))):
            out[(which, name)] = s
        if "direction" in mats:
            s = out[("direction", name)]
            out[("orthogonality_error", name)] = ((s * s - 1) ** 2).sum(1).sqrt()
    return out


PROBE = Probe("spectra", ("quantity", "param"), measure,
              "singular values of G_t, momentum, update, direction (and its ‖OᵀO − I‖_F), W_t, W_t − W*")
