"""Do Adam's moments estimate the gradient distribution? (SCIENCE.md C12, 003 §1.2)

Per-example gradients. Write the minibatch gradient as the sum of its examples' terms,
G_t = Σ_b g_b (B examples; `per_example_grads` in the problems' convention), so that
ĝ_b = B·g_b is one example's estimate of G_t and G_t = (1/B) Σ_b ĝ_b = ḡ_t. Generic route:
g_b = c·∇ℓ(θ; example b) with `vmap(grad(loss))` over the examples (and the configs), where
c = ⟨G, Σ_b ∇ℓ_b⟩/‖Σ_b ∇ℓ_b‖² is 1 for a loss that sums its examples and 1/B for a mean.
A problem may give the closed form (`per_example_grads`), or only Σ_b g_b and Σ_b g_b² in
float64 (`per_example_grad_moments`), which is all this probe needs.

Which variance. Adam's v_t is an EMA of G_t², so v_t − m_t² estimates the variance of the
minibatch gradient G_t, not of one example's: that is Var_t/B with

    Var_t = 1/(B−1) Σ_b (ĝ_b − ḡ_t)²       (per-example variance across the batch, unbiased)

The main reference is therefore p = N(ḡ_t, diag Var_t/B) (`reference="minibatch"`); the
per-example p = N(ḡ_t, diag Var_t) (`per_example`) is recorded too, and, where the problem
knows them (`population_gradient_moments`, e.g. streaming linear regression), the population
law of G_t at θ_{t−1}: N(B·μ, diag B·σ²) for one example's term g ~ (μ, σ²) (`population`).

Adam's q = N(m_t, diag(v_t − m_t²)) (`moments="raw"`) and N(m̂_t, diag(v̂_t − m̂_t²)) with
m̂ = m/(1−β1^t), v̂ = v/(1−β2^t) (`bias_corrected`), whatever the optimizer's own switch.
KL(p‖q) and KL(q‖p) are `theory.diag_gaussian_kl` summed over the coordinates of a parameter
(`kl_pq`, `kl_qp`) and averaged per coordinate (`kl_pq_per_coord`, `kl_qp_per_coord`).

Floor. KL is invariant to rescaling a coordinate in both p and q, so every coordinate is first
divided by √v_i (√v̂_i): the floor then reads "v_t − m_t² ≤ δ·v_t" with δ = 2¹⁰·(machine epsilon
of the run's dtype), ≈ 2.3e-13 in float64 and 1.2e-4 in float32: v − m² is a difference of two
rounded moving averages, and within ~10³ ulps of v it is rounding noise (at step 1 with zero
init and bias correction it is exactly 0 in exact arithmetic). Floored variances are set to δ·v;
`floored_fraction` is the share of the parameter's coordinates floored in q.

Only parameters with two moments (AdamW's `exp_avg`, `exp_avg_sq`) get rows; an optimizer
without them gives an empty table. Configs with `nested_ema` (m is then not a moment of g) are NaN.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.func import grad, vmap

from ..theory import diag_gaussian_kl
from . import Context, Probe

FLOOR_ULPS = 2**10  # δ = FLOOR_ULPS · eps(dtype), see the floor above


def per_example_grads(problem, params: dict[str, Tensor], batch: dict[str, Tensor],
                      grads: dict[str, Tensor]) -> dict[str, Tensor]:
    """g_b with G = Σ_b g_b, `[K, B, *shape]`: the problem's closed form, or vmap(grad(loss))."""
    if getattr(problem, "per_example_grads", None) is not None:
        return problem.per_example_grads(params, batch)

    def one_example(p, example):
        return grad(problem.loss)(p, {k: v.unsqueeze(0) for k, v in example.items()})

    raw = vmap(vmap(one_example, in_dims=(None, 0)))(params, batch)
    dot = sum((grads[k] * raw[k].sum(1)).flatten(1).sum(1) for k in raw)
    norm2 = sum((raw[k].sum(1) ** 2).flatten(1).sum(1) for k in raw)
    c = dot / norm2
    return {k: g * c.reshape(-1, *(1,) * (g.dim() - 1)) for k, g in raw.items()}


def per_example_grad_moments(problem, params, batch, grads) -> dict[str, tuple[Tensor, Tensor]]:
    """(Σ_b g_b, Σ_b g_b²) per parameter, float64 `[K, *shape]`."""
    if getattr(problem, "per_example_grad_moments", None) is not None:
        return problem.per_example_grad_moments(params, batch)
    per_example = per_example_grads(problem, params, batch, grads)
    return {k: (g.double().sum(1), (g.double() ** 2).sum(1)) for k, g in per_example.items()}


def batch_statistics(sums: Tensor, sum_squares: Tensor, B: int) -> tuple[Tensor, Tensor]:
    """ḡ = (1/B) Σ_b ĝ_b = Σ_b g_b and Var = 1/(B−1) Σ_b (ĝ_b − ḡ)², with ĝ_b = B·g_b."""
    mean = sums
    var = B * (B * sum_squares - sums**2) / (B - 1)
    return mean, var.clamp_min(0)


def population_statistics(ctx: Context, B: int) -> dict[str, tuple[Tensor, Tensor]] | None:
    """Mean and variance of the minibatch gradient at θ_{t−1}: (B·μ, B·σ²), per config."""
    population = getattr(ctx.problem, "population_gradient_moments", None)
    if population is None:
        return None
    out = {}
    for idx, data in zip(ctx.groups, ctx.data):
        moments = population({k: p[idx] for k, p in ctx.params_before.items()}, data)
        if moments is None:
            return None
        for name, (mu, var) in moments.items():
            shape = ctx.params[name].shape
            mean_k, var_k = out.setdefault(name, (torch.empty(shape, dtype=torch.float64, device=mu.device),
                                                  torch.empty(shape, dtype=torch.float64, device=mu.device)))
            mean_k[idx], var_k[idx] = B * mu.double(), B * var.double()
    return out


def _kl_rows(p: tuple[Tensor, Tensor], q: tuple[Tensor, Tensor], delta: float) -> dict[str, Tensor]:
    """KLs of p and q after scaling each coordinate by √(second moment of q) (see the floor)."""
    (mean_p, var_p), (mean_q, var_q) = p, q
    second = (var_q + mean_q**2).clamp_min(torch.finfo(torch.float64).tiny)
    scale = second.rsqrt()
    mp, sp, mq, sq = mean_p * scale, var_p / second, mean_q * scale, var_q / second
    forward = diag_gaussian_kl(mp, sp, mq, sq, floor=delta, start_dim=1)
    backward = diag_gaussian_kl(mq, sq, mp, sp, floor=delta, start_dim=1)
    n = mean_p[0].numel()
    return {"kl_pq": forward.total, "kl_qp": backward.total, "kl_pq_per_coord": forward.total / n,
            "kl_qp_per_coord": backward.total / n, "floored_fraction": forward.floored_fraction}


def measure(ctx: Context) -> dict:
    m_state, v_state = ctx.state.get("exp_avg", {}), ctx.state.get("exp_avg_sq", {})
    names = [k for k in ctx.params if k in m_state and k in v_state]
    if not names:
        return {}
    B = next(iter(ctx.batch.values())).shape[1]
    betas = ctx.hp["betas"] if "betas" in ctx.hp else ctx.hp["adamw_betas"]
    bc1 = (1 - betas[:, 0].double() ** ctx.step).reshape(-1, *(1,) * (ctx.params[names[0]].dim() - 1))
    bc2 = (1 - betas[:, 1].double() ** ctx.step).reshape(bc1.shape)
    delta = FLOOR_ULPS * torch.finfo(ctx.params[names[0]].dtype).eps
    nested = ctx.hp.get("nested_ema")
    sums = per_example_grad_moments(ctx.problem, ctx.params_before, ctx.batch, ctx.grads)
    population = population_statistics(ctx, B)
    out = {}
    for name in names:
        mean, var = batch_statistics(*sums[name], B)
        references = {"minibatch": (mean, var / B), "per_example": (mean, var)}
        if population is not None:
            references["population"] = population[name]
        m, v = m_state[name].double(), v_state[name].double()
        adam = {"raw": (m, v - m * m), "bias_corrected": (m / bc1, v / bc2 - (m / bc1) ** 2)}
        for moments, q in adam.items():
            for reference, p in references.items():
                for quantity, value in _kl_rows(p, q, delta).items():
                    if nested is not None:
                        value = torch.where(nested > 0, torch.nan, value)
                    out[(quantity, name, moments, reference)] = value
    return out


PROBE = Probe("moments", ("quantity", "param", "moments", "reference"), measure,
              "KL between per-example gradient statistics and Adam's moments (C12)")
