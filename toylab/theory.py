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
    beta1 = float(beta1)
    K = 0 if beta1 == 0 else int(np.ceil(np.log(1e-17) / np.log(beta1)))
    c = (1 - beta1) / (1 + beta1) * beta1 ** np.arange(K + 1, dtype=float)
    return decayed_walk_rms(t, lr, weight_decay, c, init_rms)


# ----- C4 and C14 additions: predictions the amos_schedules and notepad_ideas reports check ---
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
