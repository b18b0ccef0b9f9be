"""Do Adam's moments estimate the gradient distribution? (docs/claims.md C12, 003 §1.2)

Per-example gradients. Write the minibatch gradient as the sum of its examples' terms,
G_t = Σ_b g_b (B examples; `per_example_grads` in the problems' convention), so that
ĝ_b = B·g_b is one example's estimate of G_t and G_t = (1/B) Σ_b ĝ_b = ḡ_t. Generic route:
g_b = c·∇ℓ(θ; example b) with `vmap(grad(loss))` over the examples (and the configs), where
c = ⟨G, Σ_b ∇ℓ_b⟩/‖Σ_b ∇ℓ_b‖² is 1 for a loss that sums its examples and 1/B for a mean.
A problem may give the closed form (`per_example_grads`), or only Σ_b g_b and Σ_b g_b² in
float64 (`per_example_grad_moments`, which may get one batch shared by all configs), which is
all this probe needs.

Which variance. Adam's v_t is an EMA of G_t², so v_t − m_t² estimates the variance of the
minibatch gradient G_t, not of one example's: that is Var_t/B with

    Var_t = 1/(B−1) Σ_b (ĝ_b − ḡ_t)²       (per-example variance across the batch, unbiased)

The main reference is therefore p = N(ḡ_t, diag Var_t/B) (`reference="minibatch"`); the
per-example p = N(ḡ_t, diag Var_t) (`per_example`) is recorded too, and, where the problem
knows them (`population_gradient_moments`, e.g. streaming linear regression), the population
law of G_t at θ_{t−1}: N(B·μ, diag B·σ²) for one example's term g ~ (μ, σ²) (`population`).

Adam's q = N(m_t, diag(v_t − m_t²)) (`moments="raw"`) and N(m̂_t, diag(v̂_t − m̂_t²)) with
m̂ = m/(1−β1^t), v̂ = v/(1−β2^t) (`bias_corrected`), whatever the optimizer's own switch.
KL(p‖q) and KL(q‖p), the closed form of `theory.diag_gaussian_kl`, are summed over the
coordinates of a parameter (`kl_pq`, `kl_qp`) and averaged per coordinate (`kl_pq_per_coord`,
`kl_qp_per_coord`); batch statistics are summed in float64, the rest is in the run's dtype.

Floor. KL is invariant to rescaling a coordinate in both p and q, so the floor is relative: a
variance s at or below δ·(μ² + s), δ times its Gaussian's second moment (for q that is δ·v_i,
δ·v̂_i), is set to that value, with δ = 2¹⁰·(machine epsilon of the run's dtype), ≈ 2.3e-13 in
float64 and 1.2e-4 in float32: v − m² is a difference of two rounded moving averages, and within
~10³ ulps of v it is rounding noise (at step 1 with zero init and bias correction it is exactly
0 in exact arithmetic). `floored_fraction` is the share of the parameter's coordinates floored in q.

Only parameters with two moments (AdamW's `exp_avg`, `exp_avg_sq`) get rows; an optimizer
without them gives an empty table, and so does `nested_ema` (m is then not a moment of g).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.func import grad, vmap

from .. import batched
from ..optim.base import memory_order
from . import Context, Probe, seed_rows

FLOOR_ULPS = 2**10  # δ = FLOOR_ULPS · eps(dtype), see the floor above


def per_example_grads(problem, params: dict[str, Tensor], batch: dict[str, Tensor],
                      grads: dict[str, Tensor]) -> dict[str, Tensor]:
    """g_b with G = Σ_b g_b, `[K, B, *shape]`: the problem's closed form, or vmap(grad(loss))."""
    if getattr(problem, "per_example_grads", None) is not None:
        return problem.per_example_grads(params, batch)

    def one_example(p, example):
        return grad(problem.loss)(p, {k: v.unsqueeze(0) for k, v in example.items()})

    raw = batched.vmap(vmap(one_example, in_dims=(None, 0)))(params, batch)
    dot = sum((grads[k] * raw[k].sum(1)).flatten(1).sum(1) for k in raw)
    norm2 = sum((raw[k].sum(1) ** 2).flatten(1).sum(1) for k in raw)
    c = dot / norm2
    return {k: g * c.reshape(-1, *(1,) * (g.dim() - 1)) for k, g in raw.items()}


def per_example_grad_moments(problem, params, batch, grads, shared: bool = False) -> dict[str, tuple[Tensor, Tensor]]:
    """(Σ_b g_b, Σ_b g_b²) per parameter, float64 `[K, *shape]`. `shared`: every config sees
    the same batch (one seed), so the problem's fast path gets it once, with a config axis of 1."""
    if getattr(problem, "per_example_grad_moments", None) is not None:
        return problem.per_example_grad_moments(params, {k: v[:1] for k, v in batch.items()} if shared else batch)
    per_example = per_example_grads(problem, params, batch, grads)
    return {k: (g.double().sum(1), (g.double() ** 2).sum(1)) for k, g in per_example.items()}


def batch_statistics(sums: Tensor, sum_squares: Tensor, B: int) -> tuple[Tensor, Tensor]:
    """ḡ = (1/B) Σ_b ĝ_b = Σ_b g_b and Var = 1/(B−1) Σ_b (ĝ_b − ḡ)², with ĝ_b = B·g_b (NaN for B = 1)."""
    var = torch.addcmul(sum_squares, sums, sums, value=-1 / B).mul_(B * B / (B - 1))  # three float64 passes
    return sums, var.clamp_min_(0)


def population_statistics(ctx: Context, rows, data, B: int) -> dict[str, tuple[Tensor, Tensor]] | None:
    """Mean and variance of the minibatch gradient at θ_{t−1} of one seed's configs `rows`: (B·μ, B·σ²)."""
    population = getattr(ctx.problem, "population_gradient_moments", None)
    moments = None if population is None else population({k: p[rows] for k, p in ctx.params_before.items()}, data)
    return None if moments is None else {name: (B * mu, B * var) for name, (mu, var) in moments.items()}


class Diagonal(NamedTuple):
    """A diagonal Gaussian `[K, n]` with its variance floored, ready for KLs."""
    mean: Tensor
    var: Tensor  # max(s, δ·(μ² + s))
    inv_var: Tensor
    log_det: Tensor  # Σ_i ln var_i, [K]
    floored: Tensor | None  # number of floored coordinates, [K] (when counted)


def diagonal(mean: Tensor, var: Tensor, delta: float, count: bool = True, second: Tensor | None = None) -> Diagonal:
    """Floor the variance at δ × the second moment μ² + s (`second`, where it is known: v for
    q, see the floor above); `count`: also count the floored coordinates (reported for q only)."""
    floor = torch.addcmul(var, mean, mean).mul_(delta) if second is None else second.mul(delta)
    floor.clamp_min_(torch.finfo(var.dtype).tiny)
    floored = (var <= floor).sum(-1) if count else None
    var = torch.maximum(var, floor, out=floor)
    return Diagonal(mean, var, var.reciprocal(), var.log().sum(-1), floored)


def kl_both(p: Diagonal, q: Diagonal, d2: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """KL(p‖q) and KL(q‖p), `[K]`: the closed form of `theory.diag_gaussian_kl` (C12),

        KL(p‖q) = ½ [Σ_i (s_p,i + d_i²)/s_q,i − n + Σ_i ln s_q,i − Σ_i ln s_p,i],   d = μ_q − μ_p,

    each sum one row-wise dot product of (s + d²) with 1/s (each config's row alone): six passes
    over the coordinates per pair; `d2`: d², where the caller has it (references sharing a mean)."""
    d2 = (q.mean - p.mean).square_() if d2 is None else d2
    n = d2.shape[-1]
    forward = 0.5 * (torch.linalg.vecdot(p.var + d2, q.inv_var) - n + q.log_det - p.log_det)
    backward = 0.5 * (torch.linalg.vecdot(q.var + d2, p.inv_var) - n + p.log_det - q.log_det)
    return forward, backward


def measure(ctx: Context) -> dict:
    """Seed by seed on its configs' rows (a slice where they are consecutive), so that a config's
    values do not depend on the configs beside it; the `[K]` results are put together at the end."""
    m_state, v_state = ctx.state.get("exp_avg", {}), ctx.state.get("exp_avg_sq", {})
    names = [k for k in ctx.params if k in m_state and k in v_state]
    if not names or ctx.hp.get("nested_ema"):  # with nested_ema, m is not a moment of g
        return {}
    K = len(ctx.params[names[0]])
    parts = [(rows, measure_seed(ctx, names, rows, data)) for rows, data in zip(map(seed_rows, ctx.groups), ctx.data)]
    if len(parts) == 1 and parts[0][0] == slice(0, K):
        return parts[0][1]
    out = {}
    for key, first in parts[0][1].items():
        out[key] = value = first.new_empty(K)
        for rows, part in parts:
            value[rows] = part[key]
    return out


def measure_seed(ctx: Context, names: list[str], rows, data) -> dict:
    """The probe on one seed's configs `rows`: per-example statistics summed in float64, cast once
    to the run's dtype; every `[n, coordinates]` operand in the statistics' memory order (m and v
    copied into it once, the population moments read in place)."""
    dtype = ctx.params[names[0]].dtype
    params_before, grads, batch = ({k: v[rows] for k, v in d.items()} for d in (ctx.params_before, ctx.grads, ctx.batch))
    n_configs, B = len(params_before[names[0]]), next(iter(batch.values())).shape[1]
    betas = ctx.hp["betas"] if "betas" in ctx.hp else ctx.hp["adamw_betas"]
    bc1, bc2 = ((1 / (1 - betas[rows, i:i + 1].double() ** ctx.step)).to(dtype) for i in (0, 1))  # [n, 1]
    delta = FLOOR_ULPS * torch.finfo(dtype).eps
    sums = per_example_grad_moments(ctx.problem, params_before, batch, grads, shared=True)
    population = population_statistics(ctx, rows, data, B)
    out = {}
    for name in names:
        order = [0, *(i for i in memory_order(sums[name][0]) if i)]  # the sums' memory order, configs first

        def flat(x: Tensor) -> Tensor:
            """`[n, coordinates]` in that order, in the run's dtype: a view, or one (casting) copy."""
            x = x.permute(order)
            if x.is_contiguous() and x.dtype == dtype:
                return x.reshape(n_configs, -1)
            return torch.empty(x.shape, dtype=dtype, device=x.device).copy_(x).view(n_configs, -1)

        mean, var = (flat(x) for x in batch_statistics(*sums[name], B))
        references = {"minibatch": diagonal(mean, var / B, delta, count=False),
                      "per_example": diagonal(mean, var, delta, count=False)}
        if population is not None:
            references["population"] = diagonal(*(flat(x) for x in population[name]), delta, count=False)
        m, v = flat(ctx.state["exp_avg"][name][rows]), flat(ctx.state["exp_avg_sq"][name][rows])
        adam = {"raw": (m, v), "bias_corrected": (m * bc1, v * bc2)}
        coordinates = m.shape[-1]
        for moments, (mean_q, second_q) in adam.items():
            # v − m²: its rounding error, ~ulps of v, is far below the floor δ·v
            q = diagonal(mean_q, torch.addcmul(second_q, mean_q, mean_q, value=-1), delta, second=second_q)
            shared_d2 = (mean_q - mean).square_()  # the minibatch and per-example references share ḡ
            for reference, p in references.items():
                forward, backward = kl_both(p, q, shared_d2 if p.mean is mean else None)
                rows_out = {"kl_pq": forward, "kl_qp": backward, "kl_pq_per_coord": forward / coordinates,
                            "kl_qp_per_coord": backward / coordinates,
                            "floored_fraction": q.floored.to(dtype) / coordinates}
                for quantity, value in rows_out.items():
                    out[(quantity, name, moments, reference)] = value
    return out


PROBE = Probe("moments", ("quantity", "param", "moments", "reference"), measure,
              "KL between per-example gradient statistics and Adam's moments (C12)",
              {"quantity": ("kl_pq", "kl_qp", "kl_pq_per_coord", "kl_qp_per_coord", "floored_fraction"),
               "moments": ("raw", "bias_corrected"), "reference": ("minibatch", "per_example", "population")})
