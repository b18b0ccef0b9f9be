"""Orthogonalizers for Muon: maps U Σ Vᵀ ↦ ≈ U Vᵀ (the polar factor), batched over `[K, m, n]`.

Each takes `G: [K, m, n]` in the dtype it should compute in and returns the same shape and
dtype. The two polynomial methods share one iteration (`iterate`): from X₀ = G/max(s‖G‖_F, ε)
(taken as Gᵀ when m > n, so that the Gram matrix A = XXᵀ is the smaller one), per step t

    X ← a_t X + (b_t A + c_t A²) X,   A = XXᵀ,

i.e. the odd quintic p_t(x) = a_t x + b_t x³ + c_t x⁵ on every singular value. The op order (two
fused multiply-adds per step) is torch.optim.Muon's, so in bfloat16 the two agree up to the
matmul kernels' own rounding. `ORTHOGONALIZERS` is the table of methods, name → (s, triples):

    newton_schulz   one fixed triple every step, Muon's default (a, b, c) = (3.4445, −4.7750,
                    2.0315); s = 1. Not onto 1: these coefficients favour speed, so after 5 steps
                    the singular values spread over about (0.7, 1.2), and ones tiny relative to
                    ‖G‖_F stay below.
    polar_express   the t-th of 8 published triples (Amsel, Persson, Musco, Gower 2025, "The Polar
                    Express", arXiv:2505.16932, Algorithm 1): each p_t is the minimax odd quintic
                    on the interval [ℓ_t, u_t] that the previous steps leave the singular values
                    in, from ℓ₁ = 10⁻³, u₁ = 1, so the composition p_T ∘ … ∘ p₁ is the best odd
                    polynomial of its kind approximating 1 on [10⁻³, 1] (their Theorem 4.1).
                    Safety factor s (their §4.4): X₀ = G/max(s‖G‖_F, ε) and p_t(x/s), i.e.
                    (a/s, b/s³, c/s⁵), for the first 7 triples; the 8th, (15, −10, 3)/8, the
                    degree-5 Newton–Schulz polynomial that p_t tends to, is kept as is and repeats
                    after step 8. s = 1 gives the unmodified polynomials.
    svd             no polynomial: the exact polar factor U_r V_rᵀ from `torch.linalg.svd` (the
                    reference), over the singular values above rounding, σ_i > max(m, n)·ε_dtype·σ_1
                    (and σ_i > ε): a rank-deficient or zero G keeps a zero part, as the polynomials
                    do. bfloat16 input is computed in float32 (no bfloat16 SVD) and cast back.

`orthogonalize(G, eps, name, steps, coefficients, safety)` is the one dispatch (`from_hparams`
reads its arguments from Muon's static hyperparameters); `singular_value_map` applies the same
polynomials to scalars, what a method does to one singular value of G/‖G‖_F. `eps` is the `[K]`
floor of the Frobenius norm.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..options import UserError

Triple = tuple[float, float, float]

NEWTON_SCHULZ_COEFFICIENTS: Triple = (3.4445, -4.7750, 2.0315)  # Muon's default (a, b, c)

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


def polar_express_schedule(steps: int, safety: float = 1.01) -> list[Triple]:
    """The `steps` triples Polar Express applies: p_t(x/s) for the first 7, then (15, −10, 3)/8."""
    published = POLAR_EXPRESS_COEFFICIENTS
    scaled = [(a / safety, b / safety**3, c / safety**5) for a, b, c in published[:-1]] + [published[-1]]
    return [scaled[min(t, len(scaled) - 1)] for t in range(steps)]


# name → (steps, coefficients, safety) ↦ (input scale s, the triple of each step); None: the exact SVD
ORTHOGONALIZERS: dict[str, Callable[[int, Triple, float], tuple[float, list[Triple]]] | None] = {
    "newton_schulz": lambda steps, coefficients, safety: (1.0, [tuple(coefficients)] * steps),
    "polar_express": lambda steps, coefficients, safety: (safety, polar_express_schedule(steps, safety)),
    "svd": None,
}


def polynomials(name: str, steps: int, coefficients: Triple = NEWTON_SCHULZ_COEFFICIENTS,
                safety: float = 1.01) -> tuple[float, list[Triple]] | None:
    """(s, triples) of orthogonalizer `name`, None for the SVD; an unknown name is a `UserError`."""
    if name not in ORTHOGONALIZERS:
        raise UserError(f"orthogonalizer={name!r} is not allowed; choose one of {', '.join(ORTHOGONALIZERS)}")
    make = ORTHOGONALIZERS[name]
    return None if make is None else make(steps, coefficients, safety)


def iterate(G: Tensor, eps: Tensor, scale: float, triples: list[Triple]) -> Tensor:
    """X₀ = G/max(s‖G‖_F, ε), then X ← aX + (bA + cA²)X per triple, on each matrix of `G: [K, m, n]`."""
    tall = G.size(-2) > G.size(-1)
    X = G.mT if tall else G
    norm = scale * torch.linalg.vector_norm(X, dim=(-2, -1), keepdim=True)
    X = X / norm.clamp(min=eps.to(X.dtype).reshape(-1, 1, 1))
    for a, b, c in triples:
        A = X @ X.mT
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)
        X = torch.baddbmm(X, B, X, beta=a)
    return X.mT if tall else X


def svd(G: Tensor, eps: Tensor) -> Tensor:
    """The polar factor U_r V_rᵀ of each `[m, n]` matrix of `G: [K, m, n]`; `eps: [K]`."""
    work = G.float() if G.dtype in (torch.bfloat16, torch.float16) else G
    U, S, Vh = torch.linalg.svd(work, full_matrices=False)
    tol = max(G.shape[-2:]) * torch.finfo(work.dtype).eps * S[..., :1]
    keep = (S > tol) & (S > eps.to(work.dtype)[:, None])
    return ((U * keep.unsqueeze(-2).to(work.dtype)) @ Vh).to(G.dtype)


def orthogonalize(G: Tensor, eps: Tensor, name: str = "newton_schulz", steps: int = 5,
                  coefficients: Triple = NEWTON_SCHULZ_COEFFICIENTS, safety: float = 1.01) -> Tensor:
    """≈ the polar factor of each `[m, n]` matrix of `G: [K, m, n]` by orthogonalizer `name`, in G's
    dtype; `steps`: iterations of a polynomial method; `coefficients`: Newton–Schulz's (a, b, c);
    `safety`: Polar Express's s; `eps: [K]`."""
    quintics = polynomials(name, steps, coefficients, safety)
    return svd(G, eps) if quintics is None else iterate(G, eps, *quintics)


def from_hparams(G: Tensor, hp, eps: Tensor) -> Tensor:
    """`orthogonalize` with Muon's `orthogonalizer`, `ns_steps`, `ns_coefficients` and `pe_safety`."""
    return orthogonalize(G, eps, hp["orthogonalizer"], hp["ns_steps"], hp["ns_coefficients"], hp["pe_safety"])


def singular_value_map(x: np.ndarray, name: str, steps: int, coefficients: Triple = NEWTON_SCHULZ_COEFFICIENTS,
                       safety: float = 1.01) -> np.ndarray:
    """What orthogonalizer `name` does to one singular value x of G/‖G‖_F: p_T(…p_1(x/s)), 1 for the SVD."""
    quintics = polynomials(name, steps, coefficients, safety)
    if quintics is None:
        return np.ones_like(x)
    scale, triples = quintics
    x = x / scale
    for a, b, c in triples:
        x = a * x + b * x**3 + c * x**5
    return x
