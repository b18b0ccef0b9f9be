"""Batched Newton–Schulz orthogonalisation, the core of Muon (docs/claims.md C13).

For each matrix G of a batch `[K, m, n]`: X₀ = G/max(‖G‖_F, ε) (spectral norm ≤ 1), taken as
Gᵀ when m > n so that the Gram matrix A = XXᵀ is the smaller one, then `steps` times the quintic

    X ← aX + (bA + cA²)X,   A = XXᵀ,

which pushes the singular values of X towards 1, U Σ Vᵀ ↦ ≈ U Vᵀ. Not onto 1: the default
coefficients (3.4445, −4.7750, 2.0315) favour speed, so after 5 steps they spread over about
(0.7, 1.2), and singular values tiny relative to ‖G‖_F stay below. The op order (two fused
multiply-adds per step) is torch.optim.Muon's, so in bfloat16 the two agree up to the matmul
kernels' own rounding.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..batched import baddbmm, bmm


def newton_schulz(G: Tensor, coefficients: tuple[float, float, float], steps: int, eps: Tensor) -> Tensor:
    """Orthogonalise each `[m, n]` matrix of `G: [K, m, n]` in G's dtype; `eps: [K]`."""
    a, b, c = coefficients
    tall = G.size(-2) > G.size(-1)
    X = G.mT if tall else G
    norm = torch.linalg.vector_norm(X, dim=(-2, -1), keepdim=True)
    X = X / norm.clamp(min=eps.to(X.dtype).reshape(-1, 1, 1))
    for _ in range(steps):
        A = bmm(X, X.mT)
        B = baddbmm(A, A, A, beta=b, alpha=c)
        X = baddbmm(X, B, X, beta=a)
    return X.mT if tall else X
