"""Singular values of the matrices of one step, per matrix parameter (docs/claims.md C13).

For each 2-D parameter (`[K, m, n]`), batched over the config axis, σ_1 ≥ … ≥ σ_min(m,n)
(the `index` column, see `singular_values` for the precision) of

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

from ..batched import bmm
from . import Context, Probe, minus_optimum, momentum_of, two_dimensional


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
    distance = minus_optimum(ctx, name, theta)
    if distance is not None:
        out["weights_minus_opt"] = distance
    return out


def singular_values(matrices: list[torch.Tensor]) -> torch.Tensor:
    """σ of `[N, m, n]` matrices (a list, concatenated along N), descending, float64.

    float64 runs: `torch.linalg.svdvals`. Lower precision: σ = √λ(AᵀA) of the smaller Gram
    matrix in float64, about twice as fast on the CPU. Its error in σ² is ~ε₆₄σ_max², below the
    error ~ε₃₂σ_max·σ that the float32 entries already carry whenever σ ≳ 1e-9·σ_max. Each
    matrix is widened in its own memory layout (no transposing copy) and its Gram matrices are
    written into one buffer, so that one `eigvalsh` call takes them all.
    """
    if matrices[0].dtype == torch.float64:
        return torch.linalg.svdvals(torch.cat(matrices))
    r = min(matrices[0].shape[-2:])
    gram = matrices[0].new_empty((sum(map(len, matrices)), r, r), dtype=torch.float64)
    for a, out in zip(matrices, gram.split([len(a) for a in matrices])):
        a = torch.empty_like(a, dtype=torch.float64).copy_(a)
        bmm(*((a.mT, a) if a.shape[-2] >= a.shape[-1] else (a, a.mT)), out=out)
    bad = ~torch.isfinite(gram.sum((1, 2)))  # a diverged config: NaN σ, not a failed eigh
    sigma = torch.linalg.eigvalsh(gram.nan_to_num_(0.0, 0.0, 0.0)).flip(-1).clamp_min(0).sqrt()
    return torch.where(bad[:, None], torch.nan, sigma)


def measure(ctx: Context) -> dict:
    out = {}
    for name in two_dimensional(ctx.params):
        mats = matrices(ctx, name)
        sigma = singular_values(list(mats.values()))  # [J·K, r]
        for which, s in zip(mats, sigma.chunk(len(mats))):
            out[(which, name)] = s
        if "direction" in mats:
            s = out[("direction", name)]
            out[("orthogonality_error", name)] = ((s * s - 1) ** 2).sum(1).sqrt()
    return out


PROBE = Probe("spectra", ("quantity", "param"), measure,
              "singular values of G_t, momentum, update, direction (and its ‖OᵀO − I‖_F), W_t, W_t − W*",
              {"quantity": ("grad", "momentum", "update", "direction", "orthogonality_error", "weights",
                            "weights_minus_opt")})
