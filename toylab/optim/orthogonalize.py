"""Orthogonalizers for Muon: maps U Σ Vᵀ ↦ ≈ U Vᵀ (the polar factor), batched over `[K, m, n]`.

All three take `G: [K, m, n]` in the dtype they should compute in and return the same shape
and dtype; a tall matrix (m > n) is handled through its transpose, so the Gram matrices are
the smaller ones.

    newton_schulz   the fixed quintic X ← aX + (bA + cA²)X, A = XXᵀ, from X₀ = G/max(‖G‖_F, ε)
                    (`newton_schulz.py`; Muon's default, (a, b, c) = (3.4445, −4.7750, 2.0315))
    polar_express   the same iteration with the t-th of 8 published coefficient triples
                    (Amsel, Persson, Musco, Gower 2025, "The Polar Express", arXiv:2505.16932,
                    Algorithm 1): each p_t(x) = a_t x + b_t x³ + c_t x⁵ is the minimax odd quintic
                    on the interval [ℓ_t, u_t] that the previous steps leave the singular values
                    in, from ℓ₁ = 10⁻³, u₁ = 1, so the composition p_T ∘ … ∘ p₁ is the best odd
                    polynomial of its kind approximating 1 on [10⁻³, 1] (their Theorem 4.1).
                    Safety factor s (their §4.4): X₀ = G/max(s‖G‖_F, ε) and p_t(x/s), i.e.
                    (a/s, b/s³, c/s⁵), for the first 7 triples; the 8th, (15, −10, 3)/8, the
                    degree-5 Newton–Schulz polynomial that p_t tends to, is kept as is and repeats
                    after step 8. s = 1 gives the unmodified polynomials.
    svd             the exact polar factor U_r V_rᵀ from `torch.linalg.svd` (the reference),
                    over the singular values above rounding, σ_i > max(m, n)·ε_dtype·σ_1 (and
                    σ_i > ε): a rank-deficient or zero G keeps a zero part, as the polynomials do.
                    bfloat16 input is computed in float32 (no bfloat16 SVD) and cast back.

`from_hparams(G, hp, eps)` dispatches on Muon's static hyperparameters (`orthogonalizer`, `ns_steps`,
`ns_coefficients`, `pe_safety`); `eps` is the `[K]` floor of the Frobenius norm.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..batched import baddbmm, bmm
from ..options import UserError
from .newton_schulz import newton_schulz

# Amsel et al. 2025, Algorithm 1: (a_t, b_t, c_t) of p_t, t = 1..8, before the safety factor.
POLAR_EXPRESS_COEFFICIENTS = (
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
)
POLAR_EXPRESS_LOWER_BOUND = 1e-3  # ℓ₁ the coefficients were built for (u₁ = 1)


def polar_express_schedule(steps: int, safety: float = 1.01) -> list[tuple[float, float, float]]:
    """The `steps` triples Polar Express applies: p_t(x/s) for the first 7, then (15, −10, 3)/8."""
    published = POLAR_EXPRESS_COEFFICIENTS
    scaled = [(a / safety, b / safety**3, c / safety**5) for a, b, c in published[:-1]] + [published[-1]]
    return [scaled[min(t, len(scaled) - 1)] for t in range(steps)]


def _normalized(G: Tensor, eps: Tensor, scale: float) -> tuple[Tensor, bool]:
    tall = G.size(-2) > G.size(-1)
    X = G.mT if tall else G
    norm = scale * torch.linalg.vector_norm(X, dim=(-2, -1), keepdim=True)
    return X / norm.clamp(min=eps.to(X.dtype).reshape(-1, 1, 1)), tall


def polar_express(G: Tensor, steps: int, eps: Tensor, safety: float = 1.01) -> Tensor:
    """Polar Express on each `[m, n]` matrix of `G: [K, m, n]`, in G's dtype; `eps: [K]`."""
    X, tall = _normalized(G, eps, safety)
    for a, b, c in polar_express_schedule(steps, safety):
        A = bmm(X, X.mT)
        B = baddbmm(A, A, A, beta=b, alpha=c)
        X = baddbmm(X, B, X, beta=a)
    return X.mT if tall else X


def svd(G: Tensor, eps: Tensor) -> Tensor:
    """The polar factor U_r V_rᵀ of each `[m, n]` matrix of `G: [K, m, n]`; `eps: [K]`."""
    work = G.float() if G.dtype in (torch.bfloat16, torch.float16) else G
    U, S, Vh = torch.linalg.svd(work, full_matrices=False)
    tol = max(G.shape[-2:]) * torch.finfo(work.dtype).eps * S[..., :1]
    keep = (S > tol) & (S > eps.to(work.dtype)[:, None])
    return bmm(U * keep.unsqueeze(-2).to(work.dtype), Vh).to(G.dtype)


ORTHOGONALIZERS = ("newton_schulz", "polar_express", "svd")


def from_hparams(G: Tensor, hp: dict, eps: Tensor) -> Tensor:
    """Orthogonalise `G: [K, m, n]` with Muon's `hp["orthogonalizer"]` and its settings; `eps: [K]`."""
    name = hp["orthogonalizer"]
    if name == "newton_schulz":
        return newton_schulz(G, hp["ns_coefficients"], hp["ns_steps"], eps)
    if name == "polar_express":
        return polar_express(G, hp["ns_steps"], eps, hp["pe_safety"])
    if name == "svd":
        return svd(G, eps)
    raise UserError(f"orthogonalizer={name!r} is not allowed; choose one of {', '.join(ORTHOGONALIZERS)}")
