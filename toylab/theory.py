"""Closed forms of docs/claims.md, one function per claim, each citing its claim and equation.

Scalars and numpy arrays broadcast everywhere (pass the step `t` as an array to get a curve);
results are numpy values, except the diagonal-Gaussian KL of C12, which works on torch tensors
because the probes compute it during a run. Notation: lr η (γ in 002), decoupled weight decay
λ, β3 = 1 − ηλ, RMS(x) = ‖x‖₂/√d, SNR ρ = ‖μ‖²/‖σ‖².
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor


# ----- C1: Adam's update RMS (000) ------------------------------------------------------------
def adam_update_rms(beta1):
    """docs/claims.md C1: RMS(m̂/√v̂) ≈ √((1−β1)/(1+β1)) for zero-mean i.i.d. gradients, t → ∞, ε → 0."""
    beta1 = np.asarray(beta1, dtype=float)
    return np.sqrt((1 - beta1) / (1 + beta1))


# ----- C2: AdamW weight RMS (000, eqs. 7, 17-20) ----------------------------------------------
def _one_minus_beta3_pow(t, lr, weight_decay):
    """1 − β3^t with β3 = 1 − ηλ, accurate when ηλ·t is small."""
    return -np.expm1(np.asarray(t, dtype=float) * np.log1p(-np.asarray(lr) * weight_decay))


def adamw_weight_rms(t, lr, weight_decay, init_rms, snr=0.0):
    """docs/claims.md C2, 000 eq. 17 (mean field): RMS(θ_t) for g ~ N(μ, σ²) i.i.d. per coordinate.

    RMS(θ_t)² ≈ β3^{2t} RMS(θ₀)² + (1−β3^t)² [ρ + (1−β3)(1+β3^t)/(2(1−β3^t))] / (λ²(ρ+1)),
    evaluated as β3^{2t} RMS₀² + [(1−β3^t)² ρ + (1−β3)(1−β3^{2t})/2] / (λ²(ρ+1)), which is the
    same expression without the 0/0 at t = 0.
    """
    a_t = _one_minus_beta3_pow(t, lr, weight_decay)  # 1 − β3^t
    a_2t = _one_minus_beta3_pow(2 * np.asarray(t, dtype=float), lr, weight_decay)  # 1 − β3^{2t}
    one_minus_beta3 = np.asarray(lr) * weight_decay
    drift = (a_t**2 * snr + one_minus_beta3 * a_2t / 2) / (np.asarray(weight_decay) ** 2 * (snr + 1))
    return np.sqrt((1 - a_2t) * np.asarray(init_rms) ** 2 + drift)


def adamw_weight_rms_zero_mean(t, lr, weight_decay, init_rms):
    """docs/claims.md C2, 000 eq. 18 (μ = 0): RMS(θ_t)² ≈ β3^{2t} RMS(θ₀)² + (1−β3^{2t}) η/(2λ)."""
    a_2t = _one_minus_beta3_pow(2 * np.asarray(t, dtype=float), lr, weight_decay)
    return np.sqrt((1 - a_2t) * np.asarray(init_rms) ** 2 + a_2t * np.asarray(lr) / (2 * np.asarray(weight_decay)))


def adamw_weight_rms_steady(lr, weight_decay):
    """docs/claims.md C2, 000 eq. 19 (μ = 0, t → ∞): RMS(θ) ≈ √(η/(2λ))."""
    return np.sqrt(np.asarray(lr, dtype=float) / (2 * np.asarray(weight_decay)))


def adamw_weight_rms_quick(lr, weight_decay, beta1):
    """docs/claims.md C2, 000 eq. 7 ("quick", less accurate): RMS(θ) ≈ √((1−β1)/(1+β1) · η/(2λ))."""
    return adam_update_rms(beta1) * adamw_weight_rms_steady(lr, weight_decay)


def adamw_weight_rms_no_decay(t, lr, init_rms):
    """docs/claims.md C2, 000 eq. 20 (λ → 0): RMS(θ_t)² ≈ RMS(θ₀)² + η² t."""
    return np.sqrt(np.asarray(init_rms, dtype=float) ** 2 + np.asarray(lr) ** 2 * np.asarray(t))


# ----- C3: SignSGD with momentum + decoupled decay (000, eqs. 22-26) --------------------------
def signum_weight_rms(t, lr, weight_decay, beta1, init_rms, snr=0.0):
    """docs/claims.md C3, 000 eq. 25: eq. 17 with the denominator ρ + 1 replaced by ρ + (1−β1)/(1+β1).

    RMS(θ_t)² ≈ β3^{2t} RMS₀² + (1−β3^t)² [ρ + (1−β3)(1+β3^t)/(2(1−β3^t))] / (λ²(ρ + (1−β1)/(1+β1))).
    """
    kappa = adam_update_rms(beta1) ** 2  # (1−β1)/(1+β1) = E[m²]/σ² in steady state (000 eq. 24)
    a_t = _one_minus_beta3_pow(t, lr, weight_decay)
    a_2t = _one_minus_beta3_pow(2 * np.asarray(t, dtype=float), lr, weight_decay)
    one_minus_beta3 = np.asarray(lr) * weight_decay
    drift = (a_t**2 * snr + one_minus_beta3 * a_2t / 2) / (np.asarray(weight_decay) ** 2 * (snr + kappa))
    return np.sqrt((1 - a_2t) * np.asarray(init_rms) ** 2 + drift)


def signum_weight_rms_steady(lr, weight_decay, beta1):
    """docs/claims.md C3, 000 eq. 26 (μ = 0, t → ∞): RMS(θ) ≈ √(η/(2λ) · (1+β1)/(1−β1)).

    The source writes the left side squared; the square root is meant (it is eq. 25's limit).
    """
    return adamw_weight_rms_steady(lr, weight_decay) / adam_update_rms(beta1)


# ----- C4: Amos-style joint lr / wd schedules (001) -------------------------------------------
AMOS_FORMS = ("quadratic", "inverse")


def amos_decay(t, alpha0_p, form="quadratic"):
    """docs/claims.md C4, 001 eqs. alpha-rho-3/-4: the decay function f(t) = exp(−2S_t).

    form="quadratic" (constant convergence rate p): f(t) = 1/(α₀p t + 1)²;
    form="inverse" (rate p_t = p₀ e^{−S_t} decaying with the distance): f(t) = 1/(2α₀p₀ t + 1).
    `alpha0_p` is the product α₀p (resp. α₀p₀).
    """
    x = np.asarray(alpha0_p) * np.asarray(t, dtype=float)
    if form == "quadratic":
        return 1 / (x + 1) ** 2
    if form == "inverse":
        return 1 / (2 * x + 1)
    raise ValueError(f"form={form!r}; allowed: {', '.join(AMOS_FORMS)}")


def amos_half_life_rate(half_life, form="quadratic"):
    """docs/claims.md C4: the α₀p for which f(T) = 1/2 at the half-life T.

    quadratic: (α₀pT + 1)² = 2 ⇒ α₀p = (√2 − 1)/T (001); inverse: 2α₀p₀T + 1 = 2 ⇒ α₀p₀ = 1/(2T).
    """
    half_life = np.asarray(half_life, dtype=float)
    if form == "quadratic":
        return (np.sqrt(2) - 1) / half_life
    if form == "inverse":
        return 1 / (2 * half_life)
    raise ValueError(f"form={form!r}; allowed: {', '.join(AMOS_FORMS)}")


def amos_target_distance(k, sigma):
    """docs/claims.md C4, 001 "Scale Prediction": ‖ε₀‖ ≈ √k·σ for a k-dimensional parameter whose
    expected change scale is σ (001 derives 2kσ² for zero-mean matrices, then writes kσ² for all)."""
    return np.sqrt(np.asarray(k, dtype=float)) * np.asarray(sigma)


def amos_lr(t, alpha0, target_distance, update_norm, alpha0_p, form="quadratic"):
    """docs/claims.md C4, 001 eqs. alpha-rho-3/-4: α_t ≈ α₀‖ε₀‖/‖u_t‖ · f(t)."""
    return np.asarray(alpha0) * np.asarray(target_distance) / np.asarray(update_norm) * amos_decay(t, alpha0_p, form)


def amos_weight_decay(t, alpha0, alpha0_p, q=1.0, form="quadratic"):
    """docs/claims.md C4, 001 eqs. alpha-rho-3/-4: ρ_t ≈ α₀²/(2q) · f(t) (q = 1 is the document's default)."""
    return np.asarray(alpha0, dtype=float) ** 2 / (2 * np.asarray(q)) * amos_decay(t, alpha0_p, form)


# ----- C5-C8: equilibrium of normalized layers (002) ------------------------------------------
def equilibrium_ratio(lr, weight_decay):
    """docs/claims.md C5, 002 §3: steady state ‖g‖/‖x‖ = √(2λ/γ) of SGD with decay on a
    scale-invariant loss (⟨g, x⟩ = 0, the λ²γ² term dropped)."""
    return np.sqrt(2 * np.asarray(weight_decay, dtype=float) / np.asarray(lr))


def sgd_effective_lr(lr, momentum, dampening=0.0):
    """docs/claims.md C5, 002 §3.1: heavy-ball SGD (torch form) moves like plain SGD with lr γ(1−τ)/(1−β).

    Without dampening (τ = 0) this is γ/(1−β); τ = β keeps the step γ. Use it in place of γ in
    `equilibrium_ratio` when the decay also passes through the momentum buffer (torch's coupled
    `weight_decay`).
    """
    return np.asarray(lr, dtype=float) * (1 - np.asarray(dampening)) / (1 - np.asarray(momentum))


def heavy_ball_step_ratio(lr, weight_decay, momentum):
    """docs/claims.md C5, 002 §3.1 made exact: heavy-ball SGD with coupled decay (torch form, no
    dampening) on a scale-invariant layer keeps ‖Δx‖/‖x‖ = √(2γλ/(1+β)) in the mean, whatever the
    gradients' correlation in time.

    With b_t = β b_{t−1} + g_t + λx_{t−1}, x_t = x_{t−1} − γ b_t and ⟨g_t, x_{t−1}⟩ = 0:
    ‖x_t‖² = ‖x_{t−1}‖² − 2γ c_t + γ²‖b_t‖² with c_t = ⟨x_{t−1}, b_t⟩, and
    c_t = β⟨x_{t−2} − γb_{t−1}, b_{t−1}⟩ + λ‖x_{t−1}‖² = β c_{t−1} − βγ‖b_{t−1}‖² + λ‖x_{t−1}‖².
    Stationary means (C, B, X) give C = γB/2 and (1−β)C = −βγB + λX, so γB(1+β)/2 = λX and
    ‖Δx‖²/‖x‖² = γ²B/X = 2γλ/(1+β). 002's ‖g‖/‖x‖ = √(2λ(1−β)/γ) follows only when the gradients
    are white (B ≈ ‖g‖²/(1−β²)): correlated gradients shift ‖g‖/‖x‖, not this ratio.
    """
    return np.sqrt(2 * np.asarray(lr, dtype=float) * np.asarray(weight_decay) / (1 + np.asarray(momentum)))


def adamw_norm_relaxation(lr, weight_decay, beta2):
    """docs/claims.md C7, C8: steps for AdamW's weight norm on a scale-invariant layer to relax to
    its equilibrium, 1/κ with κ the slow rate below.

    With r = ‖x‖², g² ∝ 1/r (scale invariance) and u² ∝ g²/v (v the second moment):
    dr/dt = −2γλ r + γ² c/(r v) and dv/dt = (1−β2)(c'/r − v). In logs (a = ln r, b = ln v) about
    the equilibrium, with p = 2γλ and q = 1−β2, the linearised system is
    d(δa)/dt = −p(2δa + δb), d(δb)/dt = −q(δa + δb): trace −(2p+q), determinant pq, so
    κ = [(2p+q) − √(4p²+q²)]/2 — about q/2 = (1−β2)/2 when p ≫ q (v's memory, doubled by the
    coupling), about p = 2γλ when q ≫ p.
    """
    p = 2 * np.asarray(lr, dtype=float) * np.asarray(weight_decay)
    q = 1 - np.asarray(beta2, dtype=float)
    return 2 / ((2 * p + q) - np.sqrt(4 * p**2 + q**2))


def scheduled_equilibrium_ratio(lr_t, weight_decay):
    """docs/claims.md C6, 002 eq. 2: the moving target √(2λ/γ_t) under a schedule γ_t (→ ∞ as γ_t → 0)."""
    with np.errstate(divide="ignore"):
        return equilibrium_ratio(lr_t, weight_decay)


def adamw_inf_norm(lr, weight_decay):
    """docs/claims.md C7, 002 §4: AdamW (no momentum, Adam ≈ SignSGD) balances ∞-norms,
    ‖g‖_{A⁻¹}/‖x‖_A = √(2λ/γ) with ‖g‖_{A⁻¹}/‖x‖_A ≈ 1/‖x‖_∞, so ‖x‖_∞ ≈ √(γ/(2λ))."""
    return 1 / equilibrium_ratio(lr, weight_decay)


def corrected_weight_decay(weight_decay, lr_t, lr_max):
    """docs/claims.md C8, 002 §5: AdamC / SGDC decay λ̂_t = λ γ_t/γ_max, for normalized layers only
    (the per-step shrink factor is then 1 − γ_t λ̂_t = 1 − γ_t² λ/γ_max, Algorithm 1)."""
    return np.asarray(weight_decay, dtype=float) * np.asarray(lr_t) / np.asarray(lr_max)


def corrected_equilibrium_ratio(weight_decay, lr_max):
    """docs/claims.md C8, 002 §5: with λ̂_t the target √(2λ̂_t/γ_t) = √(2λ/γ_max), whatever the schedule."""
    return equilibrium_ratio(lr_max, weight_decay)


# ----- C9: AdamW as an EMA of updates (004) ---------------------------------------------------
def tau_iter(lr, weight_decay):
    """docs/claims.md C9, 004 eq. 6: the EMA timescale τ_iter = 1/(ηλ) in iterations."""
    return 1 / (np.asarray(lr, dtype=float) * np.asarray(weight_decay))


def tau_epoch(lr, weight_decay, iters_per_epoch):
    """docs/claims.md C9, 004 eq. 8: τ_epoch = τ_iter/M with M iterations per epoch."""
    return tau_iter(lr, weight_decay) / np.asarray(iters_per_epoch)


def weight_decay_for_tau_epoch(lr, iters_per_epoch, tau_epoch):
    """docs/claims.md C9, 004 eq. 9: λ = 1/(η M τ_epoch), the decay that gives timescale τ_epoch."""
    return 1 / (np.asarray(lr, dtype=float) * np.asarray(iters_per_epoch) * np.asarray(tau_epoch))


def mup_scaling(lr_base, weight_decay_base, width_factor):
    """docs/claims.md C9, 004 eq. 13: width scale s ↦ (η, λ) = (η_base/s, s·λ_base); τ_iter unchanged (eq. 14)."""
    s = np.asarray(width_factor, dtype=float)
    return np.asarray(lr_base) / s, s * np.asarray(weight_decay_base)


# ----- C10: scale invariance of the AdamW trajectory (004, Theorem 1) -------------------------
def rescaled_config(lr, weight_decay, init_std, eps, c):
    """docs/claims.md C10, 004 eqs. 23-25 and 16/19: (η, λ, σ_init, ε) ↦ (η/c, cλ, σ_init/c, cε).

    On a scale-invariant loss, with the same noise ξ, the rescaled run has w'_t = w_t/c for all t.
    """
    return {"lr": lr / c, "weight_decay": c * weight_decay, "init_std": init_std / c, "eps": c * eps}


# ----- C11: bias correction vs zero initialisation (003 ch. 6) --------------------------------
def first_step_moments(zero_init, bias_correction, beta1, beta2, g):
    """docs/claims.md C11, 003 ch. 6: (m̂₁, v̂₁) after the first step, from m₀, v₀ = 0 (ZI) or g₁, g₁².

    m̂₁ = g₁ (ZI+BC), (1−β1)g₁ (ZI, no BC), g₁/(1−β1) (no ZI, BC), g₁ (no ZI, no BC);
    v̂₁ likewise with β2 and g₁². Works for floats, numpy arrays and torch tensors `g`.
    """
    m1 = (1 - beta1) * g if zero_init else g
    v1 = (1 - beta2) * g * g if zero_init else g * g
    if bias_correction:
        m1, v1 = m1 / (1 - beta1), v1 / (1 - beta2)
    return m1, v1


def first_step_rms(zero_init, bias_correction, beta1, beta2):
    """docs/claims.md C11: RMS of the first direction u₁ = m̂₁/√v̂₁ (ε → 0), |m̂₁|/√v̂₁ of
    `first_step_moments` at g = 1: 1 (ZI+BC, no ZI no BC), (1−β1)/√(1−β2) (ZI, no BC),
    √(1−β2)/(1−β1) (no ZI, BC)."""
    m1, v1 = first_step_moments(zero_init, bias_correction, beta1, beta2, 1.0)
    return abs(m1) / v1**0.5


# ----- C12: KL between the gradient distribution and Adam's moments (003 §1.2) ----------------
class GaussianKL(NamedTuple):
    total: Tensor  # KL summed over the coordinates (dims from start_dim on)
    per_coord: Tensor  # the summand ½[s_p/s_q + (μ_q−μ_p)²/s_q − 1 + ln(s_q/s_p)], input's shape
    floored_fraction: Tensor  # share of coordinates where s_q ≤ floor was replaced by floor


def diag_gaussian_kl(mean_p: Tensor, var_p: Tensor, mean_q: Tensor, var_q: Tensor,
                     floor: float = 1e-12, start_dim: int = 0) -> GaussianKL:
    """docs/claims.md C12, 003 §1.2: KL(p‖q) of diagonal Gaussians p = N(μ_p, s_p), q = N(μ_q, s_q),

        KL = ½ Σ_i [s_p,i/s_q,i + (μ_q,i − μ_p,i)²/s_q,i − 1 + ln(s_q,i/s_p,i)].

    Variances at or below `floor` are set to `floor` (q's, e.g. v_t − m_t², can be ≤ 0; p's is 0
    only for a degenerate batch); `floored_fraction` reports the share of q's coordinates floored.
    Sums run over dims `start_dim`…; pass start_dim=1 for `[K, *shape]` tensors to get `[K]`.
    """
    floored = var_q <= floor
    s_q = torch.where(floored, torch.full_like(var_q, floor), var_q)
    s_p = var_p.clamp_min(floor)
    per_coord = 0.5 * (s_p / s_q + (mean_q - mean_p) ** 2 / s_q - 1 + torch.log(s_q / s_p))
    total = per_coord.flatten(start_dim).sum(-1)
    fraction = floored.flatten(start_dim).to(per_coord.dtype).mean(-1)
    return GaussianKL(total, per_coord, fraction)


def adam_moment_kl(grad_mean: Tensor, grad_var: Tensor, m: Tensor, v: Tensor,
                   floor: float = 1e-12, start_dim: int = 0) -> GaussianKL:
    """docs/claims.md C12: KL(N(ḡ_t, diag Var_t) ‖ N(m_t, diag(v_t − m_t²))), floored as in `diag_gaussian_kl`."""
    return diag_gaussian_kl(grad_mean, grad_var, m, v - m * m, floor=floor, start_dim=start_dim)


# ----- C14: the ε-scheduler (003) -------------------------------------------------------------
def epsilon_schedule(t, total_steps, eps0, eps_max, warmup, end, k):
    """docs/claims.md C14, 003 "Proposed scheduler": ε(t) for t = 0…T (T = total_steps).

    ε₀ for t < wT; ε(t) = A e^{k(t−wT)} + B on [wT, ET) with A = (ε_max − ε₀)/(e^{kT(E−w)} − 1),
    B = ε₀ − A; ε_max from ET on. `warmup` = w and `end` = E are fractions of T, k > 0 is per step.
    Evaluated as ε₀ + (ε_max − ε₀)·(e^{a} − 1)/(e^{b} − 1), a = k(t−wT), b = kT(E−w), in a form
    that does not overflow for large b.
    """
    t = np.asarray(t, dtype=float)
    start, stop = warmup * total_steps, end * total_steps
    b = k * (stop - start)
    a = np.clip(k * (t - start), 0.0, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        # (e^a − 1)/(e^b − 1) = e^{a−b} (1 − e^{−a})/(1 − e^{−b})
        growth = np.exp(a - b) * np.expm1(-a) / np.expm1(-b) if b > 0 else np.zeros_like(a)
    eps = eps0 + (eps_max - eps0) * growth
    return np.where(t < start, eps0, np.where(t >= stop, eps_max, eps))


# ----- C2, C3 beyond the mean field: the decayed walk of correlated updates (000 eqs. 2-3) ------
def decayed_walk_rms(t, lr, weight_decay, autocorrelation, init_rms):
    """RMS(θ_t) of θ_t = β3 θ_{t−1} − η u_t (000 eq. 2, β3 = 1 − ηλ) for stationary updates u with
    autocorrelation c_k = E[u_s u_{s+k}] (`autocorrelation` = [c_0, c_1, …, c_K], c_k = 0 beyond),
    independent of θ₀. Exactly, from 000 eq. 3,

        E[θ_t²] = β3^{2t} θ₀² + η² Σ_{|k|<t} c_|k| β3^{|k|} (1 − β3^{2(t−|k|)}) / (1 − β3²),

    whose t → ∞ limit is η²/(1 − β3²) · Σ_{k∈ℤ} β3^{|k|} c_|k| (pass t = np.inf; needs λ > 0). The quick
    estimate 000 eq. 7 keeps only the k = 0 term (it drops the cross term θ_{t−1}·u_t of eq. 6).
    """
    t = np.asarray(t, dtype=float)[..., None]
    c = np.asarray(autocorrelation, dtype=float)
    k = np.arange(len(c), dtype=float)
    beta3 = 1 - np.asarray(lr, dtype=float) * weight_decay
    weight = np.where(k == 0, 1.0, 2.0) * c * beta3**k  # ±k counted twice
    tail = np.where(k < t, -np.expm1(2 * np.maximum(t - k, 0) * np.log(beta3)), 0.0)  # 1 − β3^{2(t−k)}
    walk = np.asarray(lr) ** 2 * (weight * tail).sum(-1) / (1 - beta3**2)
    return np.sqrt(beta3 ** (2 * t[..., 0]) * np.asarray(init_rms, dtype=float) ** 2 + walk)


def sign_ema_autocorrelation(beta1, tol=1e-17):
    """E[sign(m_s) sign(m_{s+k})], k = 0…K, for m the stationary EMA m_t = β1 m_{t−1} + (1−β1) g_t of
    i.i.d. zero-mean Gaussian g: (m_s, m_{s+k}) is bivariate normal with correlation β1^k, so by
    the arcsine law c_k = (2/π)·arcsin(β1^k). Truncated where β1^k < `tol` (c_k ≤ β1^k)."""
    beta1 = float(beta1)
    K = 0 if beta1 == 0 else int(np.ceil(np.log(tol) / np.log(beta1)))
    return 2 / np.pi * np.arcsin(beta1 ** np.arange(K + 1, dtype=float))


def signum_weight_rms_exact(t, lr, weight_decay, beta1, init_rms):
    """SignSGD with momentum + decoupled decay (000 eq. 22) on i.i.d. N(μ = 0, σ²) gradients, exactly:
    `decayed_walk_rms` with the sign-EMA autocorrelation (2/π)·arcsin(β1^|k|) (m stationary, i.e.
    after the first ~1/(1−β1) steps). Steady state η²/(1−β3²)·Σ_k β3^|k| (2/π) arcsin(β1^|k|), where
    000 eq. 26 has η/(2λ)·Σ_k β1^|k| = η/(2λ)·(1+β1)/(1−β1): the mean field replaces the sign's
    autocorrelation by the Gaussian EMA's own, β1^|k| ≥ (2/π) arcsin(β1^|k|), and overestimates."""
    return decayed_walk_rms(t, lr, weight_decay, sign_ema_autocorrelation(beta1), init_rms)


def adamw_weight_rms_linear(t, lr, weight_decay, beta1, init_rms):
    """AdamW on i.i.d. N(0, σ²) gradients with v frozen at σ² (u = m/σ, linear): `decayed_walk_rms`
    with c_k = (1−β1)/(1+β1)·β1^|k|, steady state η/(2λ)·(1−β1)(1+β1β3)/((1+β1)(1−β1β3))/(1−ηλ/2)
    ≈ η/(2λ) (000 eq. 19). Eq. 7 keeps c_0 alone and is low by the factor √((1−β1)/(1+β1))."""
    return decayed_walk_rms(t, lr, weight_decay, ema_autocorrelation(beta1), init_rms)


def ema_autocorrelation(beta1, tol=1e-17):
    """E[u_s u_{s+k}], k = 0…K, of u = m/σ, m the stationary EMA m_t = β1 m_{t−1} + (1−β1) g_t of i.i.d.
    g with variance σ²: (1−β1)/(1+β1)·β1^k (AdamW's update with v frozen at σ²), truncated where β1^k < `tol`."""
    beta1 = float(beta1)
    K = 0 if beta1 == 0 else int(np.ceil(np.log(tol) / np.log(beta1)))
    return (1 - beta1) / (1 + beta1) * beta1 ** np.arange(K + 1, dtype=float)


# ----- C4 and C14 additions: predictions the amos_schedules and notepad_eps reports check -----
def amos_distance_ratio(t, alpha0_p, form="quadratic"):
    """docs/claims.md C4, 001 eq. varepsilon-t: ‖ε_t‖/‖ε₀‖ = exp(−S_t) = √f(t).

    quadratic (constant cosine p): 1/(α₀pt + 1); inverse (p_t = p₀‖ε_t‖/‖ε₀‖): 1/√(2α₀p₀t + 1).
    At the half-life T of `amos_half_life_rate` this is 1/√2: the lr and ρ halve, ‖ε‖² halves.
    """
    return np.sqrt(amos_decay(t, alpha0_p, form))


def amos_distance_along_path(path, distance0, cosine, form="quadratic"):
    """docs/claims.md C4, the lab's first-order law behind 001 eq. varepsilon-t, with measured inputs:
    a step of length s_t at cosine p_t to ε_t moves ‖ε_{t+1}‖ = ‖ε_t‖ − p_t s_t (the s_t² term is the one
    001's decay cancels). With the path P_t = Σ_{i≤t} s_i and ‖ε₀‖ = `distance0`:

        quadratic (constant cosine p):          ‖ε_t‖/‖ε₀‖ = 1 − p·P_t/‖ε₀‖
        inverse (p_t = p₀‖ε_t‖/‖ε₀‖, 001):     ‖ε_t‖/‖ε₀‖ = exp(−p₀·P_t/‖ε₀‖)

    001's schedules step s_t = α₀‖ε₀‖f(t) with its own estimates of ‖ε₀‖ and p; when they are
    exact these are 1/(α₀pt + 1) and 1/√(2α₀p₀t + 1) (`amos_distance_ratio`) in the continuum."""
    x = np.asarray(cosine) * np.asarray(path, dtype=float) / np.asarray(distance0)
    if form == "quadratic":
        return 1 - x
    if form == "inverse":
        return np.exp(-x)
    raise ValueError(f"form={form!r}; allowed: {', '.join(AMOS_FORMS)}")


def adam_large_eps_lr(lr, eps):
    """docs/claims.md C14 (003, ε-scheduler): for ε ≫ √v̂, Adam's step η·m̂/(√v̂ + ε) → (η/ε)·m̂,
    SGD with an EMA momentum buffer (torch SGD with dampening = momentum = β1) and lr η/ε; the
    relative difference of the two steps is √v̂/(√v̂ + ε) per coordinate."""
    return np.asarray(lr, dtype=float) / np.asarray(eps)


def epsilon_matching_lr(lr0, lr_t, eps0, sqrt_v):
    """docs/claims.md C14, 003 "Epsilon Scheduler stuff": the ε_t that makes Adam at lr η₀ take the
    step of Adam at lr η_t and ε₀, from η_t m/(√v + ε₀) = η₀ m/(√v + ε_t):
    ε_t = (η₀ − η_t)/η_t · √v + (η₀/η_t) ε₀ (per coordinate: it depends on √v)."""
    lr0, lr_t = np.asarray(lr0, dtype=float), np.asarray(lr_t, dtype=float)
    return (lr0 - lr_t) / lr_t * np.asarray(sqrt_v) + lr0 / lr_t * np.asarray(eps0)


def _affine_recurrence(a, b, x0):
    """x_t = a_t x_{t−1} + b_t for t = 1…T (the last axis of a, b), from x_0: the values x_1…x_T.
    A plain loop: products of the a_t would under- or overflow over long runs."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out, x = np.empty(a.shape), np.asarray(x0, dtype=float)
    for t in range(a.shape[-1]):
        x = a[..., t] * x + b[..., t]
        out[..., t] = x
    return out


def _stationary_sum(beta3, autocorrelation):
    """Σ_{k∈ℤ} β3^|k| c_|k| = c_0 + 2Σ_{k≥1} β3^k c_k, broadcast over β3."""
    c = np.asarray(autocorrelation, dtype=float)
    k = np.arange(len(c), dtype=float)
    return (np.where(k == 0, 1.0, 2.0) * c * np.asarray(beta3, dtype=float)[..., None] ** k).sum(-1)


# ----- C15: Muon's spectral ceiling -------------------------------------------------------------
def muon_spectral_radius(scale, weight_decay, direction_norm=1.0):
    """docs/claims.md C15: the radius R = s·ρ/λ of the spectral-norm ball that Muon's iterates keep to.

    Muon's step W_t = (1 − η_tλ)W_{t−1} − η_t s O_t (s: the shape scale of its lr, `adjust_lr`;
    ρ ≥ ‖O_t‖_op: 1 for the exact polar factor, the orthogonalizer's overshoot otherwise) is the
    convex combination (1 − η_tλ)·W_{t−1} + η_tλ·(−s O_t/λ) while 0 ≤ η_tλ ≤ 1, and ‖−s O_t/λ‖_op ≤ R,
    so W_t is in the ball whenever W_{t−1} is (Muon as Frank–Wolfe on the spectral ball: Pethick et
    al. 2025, "Training deep learning models with norm-constrained LMOs"; Chen, Li and Liu 2025,
    "Muon optimizes under spectral norm constraints").
    """
    return np.asarray(scale, dtype=float) * np.asarray(direction_norm) / np.asarray(weight_decay)


def muon_spectral_ceiling(lr, weight_decay, scale, init_op_norm, direction_norm=1.0):
    """docs/claims.md C15: the bound b_t ≥ ‖W_t‖_op after the updates t = 1…T, `lr` = [η_1, …, η_T].

    The triangle inequality on W_t = (1 − η_tλ)W_{t−1} − η_t s O_t gives b_t = (1 − η_tλ)b_{t−1} + η_t sρ,
    b_0 = ‖W_0‖_op; for λ > 0, b_t − R = P_t(‖W_0‖_op − R) with P_t = Π_{i≤t}(1 − η_iλ): from outside
    the ball of `muon_spectral_radius` R the bound falls to R geometrically (the transient), from
    inside it rises towards R. A constant gradient direction G attains it: with O_t = polar(G) and
    W_0 = 0, W_t = −(1 − β^t)(s/λ)·polar(G) for constant η (β = 1 − ηλ). With λ = 0 the bound is
    ‖W_0‖_op + sρΣη_i, attained by the same constant direction.
    """
    lr = np.asarray(lr, dtype=float)
    return _affine_recurrence(1 - lr * weight_decay, lr * np.asarray(scale) * direction_norm, init_op_norm)


# ----- C16: the equilibrium spectrum of the weights ---------------------------------------------
class EquilibriumSpectrum(NamedTuple):
    entry_rms: np.ndarray  # √v, v = E[W_ij²] of the fluctuation
    bulk_lower: np.ndarray  # √v·|√m − √n|, the smallest singular value of the bulk
    bulk_upper: np.ndarray  # √v·(√m + √n), the bulk edge
    top: np.ndarray  # the largest singular value: the bulk edge, or the outlier of the mean


def stationary_walk_variance(lr, weight_decay, autocorrelation):
    """E[θ²] of the stationary walk θ_t = β3θ_{t−1} − ηu_t (`decayed_walk_rms` at t = ∞), broadcast
    over lr: η²/(1 − β3²)·Σ_{k∈ℤ} β3^|k| c_|k|, c_k = E[u_s u_{s+k}]."""
    beta3 = 1 - np.asarray(lr, dtype=float) * weight_decay
    return np.asarray(lr, dtype=float) ** 2 * _stationary_sum(beta3, autocorrelation) / (1 - beta3**2)


def orthogonal_update_moment(scale, m, n):
    """E[u_ij²] of Muon's update u = s·O with O an m×n matrix of orthonormal rows or columns
    (all singular values 1, ‖O‖_F² = min(m, n)): s²·min(m, n)/(mn) = s²/max(m, n)."""
    return np.asarray(scale, dtype=float) ** 2 / max(m, n)


def marchenko_pastur_edges(entry_var, m, n):
    """The support [√v|√m − √n|, √v(√m + √n)] of the singular values of an m×n matrix of i.i.d.
    entries of variance v, m, n → ∞ (Marchenko–Pastur; σ_max converges to the upper edge)."""
    root = np.sqrt(np.asarray(entry_var, dtype=float))
    return root * abs(np.sqrt(m) - np.sqrt(n)), root * (np.sqrt(m) + np.sqrt(n))


def marchenko_pastur_density(sigma, entry_var, m, n):
    """The density of the min(m, n) singular values σ of an m×n matrix of i.i.d. entries of variance
    v (m, n → ∞): with p = min(m, n), q = max(m, n), y = p/q, the eigenvalues x = σ²/(vq) of WWᵀ/(vq)
    (or WᵀW) have the Marchenko–Pastur density √((b − x)(x − a))/(2πyx) on [a, b] = [(1 ∓ √y)²],
    and σ's density is that times dx/dσ = 2σ/(vq)."""
    p, q = min(m, n), max(m, n)
    y, scale = p / q, np.asarray(entry_var, dtype=float) * q
    x = np.asarray(sigma, dtype=float) ** 2 / scale
    a, b = (1 - np.sqrt(y)) ** 2, (1 + np.sqrt(y)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.sqrt(np.clip((b - x) * (x - a), 0, None)) / (2 * np.pi * y * x)
    return np.where((x > a) & (x < b), f * 2 * np.asarray(sigma) / scale, 0.0)


TRACY_WIDOM_1_MEAN = -1.2065335745820  # E of the β = 1 (real) Tracy–Widom law


def expected_top_singular_value(entry_var, m, n):
    """E[σ_max] of an m×n matrix of i.i.d. N(0, v) entries at finite size (Johnstone 2001): with
    p = min(m, n), q = max(m, n), σ_max²/v ≈ μ + s·TW₁, μ = (√(q − 1) + √p)², s = (√(q − 1) + √p)·
    (1/√(q − 1) + 1/√p)^{1/3}, so E[σ_max] ≈ √(v(μ + s·E[TW₁])): below the bulk edge √v(√m + √n)
    by ≈ 2.8 % at 64×64, 1.7 % at 128×128."""
    p, q = min(m, n), max(m, n)
    root = np.sqrt(q - 1) + np.sqrt(p)
    spread = root * (1 / np.sqrt(q - 1) + 1 / np.sqrt(p)) ** (1 / 3)
    return np.sqrt(np.asarray(entry_var, dtype=float) * (root**2 + spread * TRACY_WIDOM_1_MEAN))


def spiked_top_singular_value(spike, entry_var, m, n):
    """σ_max of θ·xyᵀ + N (unit x, y; N m×n with i.i.d. entries of variance v), m, n → ∞
    (Benaych-Georges and Nadakuditi 2012): √((θ² + vm)(θ² + vn))/θ above the threshold
    θ > √v·(mn)^{1/4}, the bulk edge √v(√m + √n) below it (the two agree at the threshold)."""
    theta, v = np.asarray(spike, dtype=float), np.asarray(entry_var, dtype=float)
    edge = marchenko_pastur_edges(v, m, n)[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        outlier = np.sqrt((theta**2 + v * m) * (theta**2 + v * n)) / theta
    return np.where(theta > np.sqrt(v) * (m * n) ** 0.25, outlier, edge)


def equilibrium_spectrum(lr, weight_decay, autocorrelation, m, n, mean_update_norm=0.0):
    """docs/claims.md C16: the singular values of the equilibrium weights W = −η Σ_{k≥0} β3^k U_{t−k}
    (θ ← β3θ − ηU, β3 = 1 − ηλ, unrolled) of an m×n matrix under noise-dominated updates.

    The fluctuating part: if the update's entries are independent across (i, j) with the temporal
    autocorrelation c_k = E[U_ij,s U_ij,s+k] (AdamW: `ema_autocorrelation`, C2; Signum:
    `sign_ema_autocorrelation`, C3; Muon: `orthogonal_update_moment` at k = 0 for uncorrelated
    orthogonal updates, measured c_k with momentum), W's entries have the variance
    v = η²/(1 − β3²)·Σ_k β3^|k| c_|k| (`stationary_walk_variance`, ≈ η/(2λ)·Σ_k c_k for ηλ ≪ 1), and,
    a sum of ~1/(2ηλ) independent-enough terms, W is an i.i.d.-entry matrix: its singular values fill
    the Marchenko–Pastur bulk [√v|√m − √n|, √v(√m + √n)]. For Muon the terms are not independent
    entrywise but orthogonal matrices, asymptotically free: their weighted sum has the same bulk in
    the many-term limit (free central limit; `free_orthogonal_sum_edge` is the exact square case).
    The mean part: E[W] = −η Σ_k β3^k E[U] = −E[U]/λ, so a rank-one mean update of spectral norm
    ‖E[U]‖_op (`mean_update_norm`; then c_k is the autocorrelation of U − E[U]) adds a spike
    θ = ‖E[U]‖_op/λ, whose outlier `spiked_top_singular_value` gives the top singular value.
    """
    v = stationary_walk_variance(lr, weight_decay, autocorrelation)
    lower, upper = marchenko_pastur_edges(v, m, n)
    top = spiked_top_singular_value(np.asarray(mean_update_norm, dtype=float) / weight_decay, v, m, n)
    return EquilibriumSpectrum(np.sqrt(v), lower, upper, top)


def free_orthogonal_sum_edge(weights):
    """The largest singular value of Σ_k a_k O_k for free Haar orthogonal n×n matrices O_k (n → ∞),
    a_k ≥ 0 the `weights` (for Muon's equilibrium without momentum: a_k = ηsβ3^k, k = 0, 1, …).

    Sums of free R-diagonal elements add their symmetrized singular-value laws by free additive
    convolution (Haagerup and Larsen 2000); for a_k O_k that law is ½(δ_{a_k} + δ_{−a_k}), whose
    R-transform is R_k(w) = (√(1 + 4a_k²w²) − 1)/(2w). The support's upper edge is the minimum over
    w > 0 of the inverse Cauchy transform K(w) = 1/w + Σ_k R_k(w). Checks: t equal weights a give
    Kesten–McKay's 2a√(t − 1); many small ones give 1/w + w Σa_k², minimal at 2√(Σ_k a_k²), the
    quarter-circle edge of an n×n i.i.d. matrix of entry variance Σ_k a_k²/n (the Marchenko–Pastur
    edge of `equilibrium_spectrum`).
    """
    from scipy.optimize import minimize_scalar

    a = np.asarray(weights, dtype=float)
    a = a[a > 0]
    if len(a) < 2:
        return float(a.sum())

    def K(log_w):
        w = np.exp(log_w)
        return 1 / w + np.sum(np.sqrt(1 + 4 * (a * w) ** 2) - 1) / (2 * w)

    centre = -0.5 * np.log(np.sum(a**2))  # the free-CLT minimiser 1/√Σa²
    best = minimize_scalar(K, bounds=(centre - 20, centre + 20), method="bounded",
                           options={"xatol": 1e-10})
    return float(best.fun)


# ----- C2, C3, C6 under a learning-rate schedule: the relaxing second moment --------------------
def scheduled_weight_rms(lr, weight_decay, init_rms, autocorrelation=(1.0,)):
    """docs/claims.md C6 (with C2/C3's walk): RMS(θ_t) after the updates t = 1…T with `lr` = [η_1, …, η_T]
    (ηλ < 1) for θ_t = β_tθ_{t−1} − η_t u_t, β_t = 1 − η_tλ, stationary updates with autocorrelation
    c_k = E[u_s u_{s+k}] (as in `decayed_walk_rms`; c = (1,) for uncorrelated unit updates),
    independent of θ_0. Exactly, with x_t = E[θ_t²] and θ_{t−1} = β..θ_0 − Σ_{s<t} η_s Π_{s<r<t} β_r u_s,

        x_t = β_t² x_{t−1} + η_t² c_0 + 2β_tη_t Σ_{k=1}^{t−1} η_{t−k} (Π_{t−k<r<t} β_r) c_k.

    For constant η this is `decayed_walk_rms`; at a frozen η_t its fixed point is the quasi-static
    `quasi_static_weight_rms` x* = η_t² C(β_t)/(1 − β_t²) ≈ η_t/(2λ)·Σ_k c_k, C(β) = Σ_{k∈ℤ} β^|k| c_|k|.
    x relaxes towards it at the rate 1 − β_t² ≈ 2η_tλ per step, so it lags a schedule that changes on
    a timescale shorter than 1/(2η_tλ) steps (the end of a decay to 0, where the weights freeze).
    """
    lr = np.asarray(lr, dtype=float)
    c = np.asarray(autocorrelation, dtype=float)
    beta3 = 1 - lr * weight_decay
    log_prod = np.concatenate([[0.0], np.cumsum(np.log(beta3))])  # Σ_{r≤t} ln β_r, t = 0…T
    cross = np.zeros_like(lr)  # Σ_k η_{t−k} Π_{t−k<r<t} β_r c_k at index t − 1
    for k in range(1, min(len(c), len(lr))):
        t = np.arange(k + 1, len(lr) + 1)
        cross[t - 1] += c[k] * lr[t - k - 1] * np.exp(log_prod[t - 1] - log_prod[t - k])
    drive = lr**2 * c[0] + 2 * beta3 * lr * cross
    return np.sqrt(_affine_recurrence(beta3**2, drive, np.asarray(init_rms, dtype=float) ** 2))


def quasi_static_weight_rms(lr, weight_decay, autocorrelation=(1.0,)):
    """docs/claims.md C6: the equilibrium RMS at each step's own lr, √(η_t² C(β_t)/(1 − β_t²))
    ≈ √(η_t/(2λ)·Σ_k c_k) (C2 eq. 19 for AdamW's Σ_k c_k = 1): what `scheduled_weight_rms` follows
    when the schedule is slow compared with 1/(2η_tλ). At η_t = 0 it is the limit η_t → 0, 0."""
    lr = np.asarray(lr, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(lr > 0, np.sqrt(stationary_walk_variance(lr, weight_decay, autocorrelation)), 0.0)
