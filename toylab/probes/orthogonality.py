"""How exactly Muon's orthogonalizer returns the polar factor, per matrix parameter and step.

For each 2-D parameter of a Muon run, batched over configs, in float64, from the orthogonalizer's
output O (`aux["direction"]`) and its input U, rebuilt from g_t, the momentum buffer M_t after the
update and the hyperparameters as Muon forms it (`optim/muon.py`): U = M_t, or with nesterov
U = (1 − μ)g_t + μM_t (ema form) or g_t + μM_t (sum form):

    input_spectrum   σ_i(U)/‖U‖_F, descending: the singular values the iteration starts from
    output_spectrum  σ_i(O), descending: where the orthogonalizer put them (1 = exact)
    polar_error      ‖O − P‖_F / ‖P‖_F, with P = U_r V_rᵀ the exact polar factor of U
                     (U = U_r Σ_r V_rᵀ over the singular values above rounding, so ‖P‖_F = √r)

For an odd polynomial O = U p(Σ) Vᵀ, polar_error² = Σ_i (p(σ_i) − 1)² / r: the output spectrum
says which singular values make the error. Other optimizers give no rows.
"""
from __future__ import annotations

import torch

from . import Context, Probe, two_dimensional
from ..optim.base import bcast


def polar_factor(U: torch.Tensor) -> torch.Tensor:
    """U_r V_rᵀ of each `[m, n]` matrix of `U: [K, m, n]` (float64; zero for a zero matrix)."""
    left, s, right = torch.linalg.svd(U.double(), full_matrices=False)
    keep = s > max(U.shape[-2:]) * torch.finfo(torch.float64).eps * s[..., :1]
    return (left * keep.unsqueeze(-2)) @ right


def orthogonalizer_input(ctx: Context, name: str) -> torch.Tensor:
    """U of Muon's step t for parameter `name`, `[K, m, n]`."""
    g, buf = ctx.grads[name], ctx.state["momentum_buffer"][name]
    mu, nesterov = bcast(ctx.hp["momentum"], g).to(g.dtype), bcast(ctx.hp["nesterov"], g) > 0
    look_ahead = g.lerp(buf, mu) if ctx.hp["momentum_form"] == "ema" else g + mu * buf
    return torch.where(nesterov, look_ahead, buf)


def measure(ctx: Context) -> dict:
    out = {}
    if ctx.optimizer != "muon":
        return out
    for name in two_dimensional(ctx.params):
        U, O = orthogonalizer_input(ctx, name).double(), ctx.aux["direction"][name].double()
        P = polar_factor(U)
        frob = torch.linalg.vector_norm(U, dim=(-2, -1))
        out[("input_spectrum", name)] = torch.linalg.svdvals(U) / frob.clamp_min(1e-300)[:, None]
        out[("output_spectrum", name)] = torch.linalg.svdvals(O)
        out[("polar_error", name)] = (torch.linalg.vector_norm(O - P, dim=(-2, -1))
                                      / torch.linalg.vector_norm(P, dim=(-2, -1)))
    return out


PROBE = Probe("orthogonality", ("quantity", "param"), measure,
              "Muon's orthogonalizer: σ(U)/‖U‖_F of its input, σ(O) of its output, ‖O − UVᵀ‖_F/‖UVᵀ‖_F",
              {"quantity": ("input_spectrum", "output_spectrum", "polar_error")})
