"""Closed forms of toylab.theory against hand-computed values and one Monte-Carlo check (C1)."""
import math

import numpy as np
import pytest
import torch

from toylab import theory


def test_c1_update_rms_hand_value():
    assert theory.adam_update_rms(0.9) == pytest.approx(math.sqrt(0.1 / 1.9))
    assert theory.adam_update_rms(0.9) == pytest.approx(0.2294, abs=1e-4)
    assert theory.adam_update_rms(0.0) == 1.0


def test_c1_update_rms_monte_carlo():
    """Adam (bias-corrected, ε → 0) on i.i.d. N(0,1) gradients: RMS(m̂/√v̂) within 2 % of C1."""
    rng = np.random.default_rng(0)
    beta1, beta2, n = 0.9, 0.999, 4000
    m = v = np.zeros(n)
    rms = []
    for t in range(1, 4001):
        g = rng.standard_normal(n)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        u = (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t))
        if t > 3000:
            rms.append(np.sqrt(np.mean(u * u)))
    assert np.mean(rms) == pytest.approx(theory.adam_update_rms(beta1), rel=0.02)


def test_c2_eq17_at_t0_is_init_and_rho0_is_eq18():
    t = np.array([0, 1, 10, 1000, 100_000])
    lr, wd, r0 = 1e-3, 0.1, 0.1
    assert theory.adamw_weight_rms(0, lr, wd, r0) == pytest.approx(r0)
    np.testing.assert_allclose(theory.adamw_weight_rms(t, lr, wd, r0, snr=0.0),
                               theory.adamw_weight_rms_zero_mean(t, lr, wd, r0), rtol=1e-12)


def test_c2_eq17_hand_value():
    # t = 1: β3 = 1 − 1e-4; RMS² = β3² r0² + (1−β3)² [ρ + (1−β3)(1+β3)/(2(1−β3))] / (λ²(ρ+1)).
    lr, wd, r0, rho = 1e-3, 0.1, 0.1, 0.5
    b3 = 1 - lr * wd
    expected = b3**2 * r0**2 + (1 - b3) ** 2 * (rho + (1 + b3) / 2) / (wd**2 * (rho + 1))
    assert theory.adamw_weight_rms(1, lr, wd, r0, snr=rho) == pytest.approx(math.sqrt(expected), rel=1e-10)


def test_c2_eq18_limit_is_eq19_and_quick_is_eq7():
    lr, wd = 1e-3, 0.1
    steady = math.sqrt(lr / (2 * wd))
    assert theory.adamw_weight_rms_steady(lr, wd) == pytest.approx(steady)
    assert theory.adamw_weight_rms_zero_mean(1e8, lr, wd, 0.1) == pytest.approx(steady, rel=1e-12)
    assert theory.adamw_weight_rms(1e8, lr, wd, 0.1) == pytest.approx(steady, rel=1e-12)
    assert theory.adamw_weight_rms_quick(lr, wd, 0.9) == pytest.approx(steady * math.sqrt(0.1 / 1.9))


def test_c2_large_snr_approaches_eq21_and_small_decay_is_eq20():
    # ρ → ∞, t → ∞: RMS → 1/λ (eq. 21 with ρ/(ρ+1) → 1).
    assert theory.adamw_weight_rms(1e9, 1e-3, 0.1, 0.1, snr=1e9) == pytest.approx(10.0, rel=1e-6)
    t = np.array([1.0, 100.0, 10_000.0])
    np.testing.assert_allclose(theory.adamw_weight_rms_zero_mean(t, 1e-3, 1e-9, 0.1),
                               theory.adamw_weight_rms_no_decay(t, 1e-3, 0.1), rtol=1e-6)
    assert theory.adamw_weight_rms_no_decay(100, 1e-2, 0.0) == pytest.approx(0.1)


def test_c3_signum():
    lr, wd, b1 = 1e-3, 0.1, 0.9
    expected = math.sqrt(lr / (2 * wd) * 1.9 / 0.1)
    assert theory.signum_weight_rms_steady(lr, wd, b1) == pytest.approx(expected)
    assert theory.signum_weight_rms(1e8, lr, wd, b1, 0.1) == pytest.approx(expected, rel=1e-12)
    assert theory.signum_weight_rms(0, lr, wd, b1, 0.1) == pytest.approx(0.1)
    # β1 = 0: sign(g) has unit RMS, so Signum and the Adam mean field coincide.
    t = np.array([1, 50, 5000])
    np.testing.assert_allclose(theory.signum_weight_rms(t, lr, wd, 0.0, 0.1, snr=0.3),
                               theory.adamw_weight_rms(t, lr, wd, 0.1, snr=0.3), rtol=1e-12)


def test_c4_amos():
    T = 1000
    for form in theory.AMOS_FORMS:
        rate = theory.amos_half_life_rate(T, form)
        assert theory.amos_decay(T, rate, form) == pytest.approx(0.5)
        assert theory.amos_decay(0, rate, form) == 1.0
    assert theory.amos_half_life_rate(T, "quadratic") == pytest.approx((math.sqrt(2) - 1) / T)
    assert theory.amos_decay(10, 0.1, "quadratic") == pytest.approx(1 / 4)
    assert theory.amos_decay(10, 0.1, "inverse") == pytest.approx(1 / 3)
    assert theory.amos_weight_decay(10, 0.1, 0.1, q=1.0) == pytest.approx(0.01 / 2 / 4)
    assert theory.amos_lr(0, 1e-3, theory.amos_target_distance(100, 0.5), 2.0, 0.1) == pytest.approx(1e-3 * 5 / 2)
    with pytest.raises(ValueError):
        theory.amos_decay(1, 0.1, "cubic")


def test_c4_distance_along_the_path_is_001s_law_with_its_own_inputs_and_the_simulated_walk_with_others():
    """With 001's inputs exact the first-order law is 1/(α₀pt + 1) and 1/√(2α₀p₀t + 1) (continuum);
    with another cosine and ‖ε₀‖ it follows a simulated walk ε ← ε − s·u, u at cosine p to ε."""
    a0p, t = 1e-3, np.arange(0, 3001)
    for form in theory.AMOS_FORMS:
        steps = 2.0 * 1e-3 * theory.amos_decay(t[:-1] + 0.5, a0p, form)  # α₀‖ε₀‖f, midpoint rule; ‖ε₀‖ = 2, p = 1
        path = np.concatenate([[0.0], np.cumsum(steps)])
        np.testing.assert_allclose(theory.amos_distance_along_path(path, 2.0, 1.0, form),
                                   theory.amos_distance_ratio(t, a0p, form), rtol=1e-6)
    rng = np.random.default_rng(0)
    eps, p, s = rng.normal(size=64), 0.8, 1e-3  # a 2-D walk: u = p·ε̂ + √(1−p²)·(a unit vector ⊥ ε)
    e0, walk = np.linalg.norm(eps), [np.linalg.norm(eps)]
    for _ in range(500):
        side = rng.normal(size=64)
        side -= side @ eps / (eps @ eps) * eps
        eps = eps - s * (p * eps / np.linalg.norm(eps) + np.sqrt(1 - p * p) * side / np.linalg.norm(side))
        walk.append(np.linalg.norm(eps))
    predicted = theory.amos_distance_along_path(s * np.arange(501), e0, p)
    np.testing.assert_allclose(np.array(walk) / e0, predicted, rtol=2e-3)  # the s² term: ≤ 500·s²/(2‖ε‖²)
    with pytest.raises(ValueError):
        theory.amos_distance_along_path(1.0, 1.0, 1.0, "cubic")


def test_c5_to_c8_equilibria():
    assert theory.equilibrium_ratio(0.1, 1e-4) == pytest.approx(math.sqrt(2e-3))
    assert theory.sgd_effective_lr(0.1, 0.9) == pytest.approx(1.0)
    assert theory.sgd_effective_lr(0.1, 0.9, dampening=0.9) == pytest.approx(0.1)
    lr_t = np.array([0.1, 0.05, 0.0])
    ratio = theory.scheduled_equilibrium_ratio(lr_t, 1e-4)
    np.testing.assert_allclose(ratio[:2], np.sqrt(2e-4 / lr_t[:2]))
    assert np.isinf(ratio[2])
    assert theory.adamw_inf_norm(1e-3, 0.1) == pytest.approx(math.sqrt(1e-3 / 0.2))
    np.testing.assert_allclose(theory.corrected_weight_decay(1e-4, lr_t, 0.1), [1e-4, 5e-5, 0.0])
    # The corrected target is the scheduled target with λ̂_t, constant in t.
    lam_hat = theory.corrected_weight_decay(1e-4, lr_t[:2], 0.1)
    np.testing.assert_allclose(theory.equilibrium_ratio(lr_t[:2], lam_hat),
                               theory.corrected_equilibrium_ratio(1e-4, 0.1) * np.ones(2))


def test_c9_timescales():
    assert theory.tau_iter(1e-3, 0.1) == pytest.approx(1e4)
    assert theory.tau_epoch(1e-3, 0.1, 500) == pytest.approx(20.0)
    assert theory.weight_decay_for_tau_epoch(1e-3, 500, 20.0) == pytest.approx(0.1)
    lr, wd = theory.mup_scaling(1e-3, 0.1, 4.0)
    assert (lr, wd) == (pytest.approx(2.5e-4), pytest.approx(0.4))
    assert theory.tau_iter(lr, wd) == pytest.approx(theory.tau_iter(1e-3, 0.1))


def test_c10_rescaled_config():
    out = theory.rescaled_config(1e-3, 0.1, 0.02, 1e-8, c=4.0)
    assert out == {"lr": pytest.approx(2.5e-4), "weight_decay": pytest.approx(0.4),
                   "init_std": pytest.approx(0.005), "eps": pytest.approx(4e-8)}
    assert theory.tau_iter(out["lr"], out["weight_decay"]) == pytest.approx(theory.tau_iter(1e-3, 0.1))


@pytest.mark.parametrize("zero_init,bias_correction,m_factor,v_factor", [
    (True, True, 1.0, 1.0),
    (True, False, 0.1, 0.05),
    (False, True, 1 / 0.1, 1 / 0.05),
    (False, False, 1.0, 1.0),
])
def test_c11_first_step_table(zero_init, bias_correction, m_factor, v_factor):
    g = torch.tensor([2.0, -3.0], dtype=torch.float64)
    m1, v1 = theory.first_step_moments(zero_init, bias_correction, 0.9, 0.95, g)
    torch.testing.assert_close(m1, m_factor * g)
    torch.testing.assert_close(v1, v_factor * g * g)



@pytest.mark.parametrize("zero_init", [True, False])
@pytest.mark.parametrize("bias_correction", [True, False])
def test_c11_first_step_rms_is_the_rms_of_the_optimizers_first_step(zero_init, bias_correction):
    """Against the lab's AdamW itself (float64): one step at lr 1, ε ≈ 0, no decay moves θ by −u₁."""
    from toylab.optim.torch_api import AdamW

    x = torch.zeros(1000, dtype=torch.float64, requires_grad=True)
    x.grad = torch.randn(1000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    AdamW([x], lr=1.0, betas=(0.9, 0.95), eps=1e-30, weight_decay=0.0, bias_correction=bias_correction,
          zero_init=zero_init).step()
    rms = float(x.detach().pow(2).mean().sqrt())
    assert theory.first_step_rms(zero_init, bias_correction, 0.9, 0.95) == pytest.approx(rms, rel=1e-12)

def test_c12_kl_identical_is_zero_and_matches_closed_form():
    gen = torch.Generator().manual_seed(0)
    mu_p, mu_q = torch.randn(3, 5, generator=gen, dtype=torch.float64), torch.randn(3, 5, generator=gen, dtype=torch.float64)
    s_p, s_q = torch.rand(3, 5, generator=gen, dtype=torch.float64) + 0.1, torch.rand(3, 5, generator=gen, dtype=torch.float64) + 0.1
    same = theory.diag_gaussian_kl(mu_p, s_p, mu_p, s_p)
    assert same.total.item() == pytest.approx(0.0, abs=1e-12)
    # The general multivariate formula of 003 §1.2, in numpy, with diagonal covariances.
    kl = theory.diag_gaussian_kl(mu_p, s_p, mu_q, s_q, start_dim=1)
    for k in range(3):
        Sp, Sq = np.diag(s_p[k].numpy()), np.diag(s_q[k].numpy())
        d = (mu_q[k] - mu_p[k]).numpy()
        Sq_inv = np.linalg.inv(Sq)
        ref = 0.5 * (np.trace(Sq_inv @ Sp) + d @ Sq_inv @ d - 5 + np.log(np.linalg.det(Sq) / np.linalg.det(Sp)))
        assert kl.total[k].item() == pytest.approx(ref, rel=1e-10)
    torch.testing.assert_close(kl.total, kl.per_coord.sum(-1))
    # The same against torch.distributions.
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu_p, s_p.sqrt()),
                                            torch.distributions.Normal(mu_q, s_q.sqrt()))
    torch.testing.assert_close(kl.per_coord, ref)


def test_c12_floor_and_moment_kl():
    mean = torch.tensor([0.0, 1.0, 2.0, 0.5], dtype=torch.float64)
    var = torch.ones(4, dtype=torch.float64)
    m = mean.clone()
    v = torch.tensor([1.0, 2.0, 3.0, 0.1], dtype=torch.float64)  # v − m²: 1, 1, −1, −0.15
    kl = theory.adam_moment_kl(mean, var, m, v, floor=1e-6)
    assert kl.floored_fraction.item() == pytest.approx(0.5)
    assert kl.per_coord[0].item() == pytest.approx(0.0) and kl.per_coord[1].item() == pytest.approx(0.0)
    floored = 0.5 * (1 / 1e-6 - 1 + math.log(1e-6))
    assert kl.per_coord[2].item() == pytest.approx(floored)
    assert torch.isfinite(kl.total)


def test_c14_epsilon_schedule():
    T, eps0, eps_max, w, E, k = 100, 1e-8, 1e-2, 0.1, 0.8, 0.05
    t = np.arange(T + 1)
    eps = theory.epsilon_schedule(t, T, eps0, eps_max, w, E, k)
    A = (eps_max - eps0) / (math.exp(k * T * (E - w)) - 1)
    B = eps0 - A
    assert eps[0] == eps0 and eps[9] == eps0
    for s in (10, 35, 79):
        assert eps[s] == pytest.approx(A * math.exp(k * (s - w * T)) + B, rel=1e-12)
    assert eps[80] == eps_max and eps[100] == eps_max
    assert np.all(np.diff(eps) >= 0)
    # A steep k over many steps stays finite and monotone.
    eps = theory.epsilon_schedule(np.arange(100_001), 100_000, eps0, eps_max, w, E, 1.0)
    assert np.all(np.isfinite(eps)) and np.all(np.diff(eps) >= 0) and eps[-1] == eps_max


def test_c4_amos_distance_ratio_solves_the_difference_equation():
    """001's recursions S_{t+1} = S_t + α₀p e^{−S_t} (constant p) and S_{t+1} = S_t + α₀p₀ e^{−2S_t}
    (p_t = p₀e^{−S_t}), iterated in float64, against the closed forms exp(−S_t): the ODE
    solutions differ from the recursion by O(α₀p) relative (here α₀p = 1e-3, tolerance 1e-3)."""
    rate, steps = 1e-3, 5000
    s_quad = s_inv = 0.0
    quad, inv = [1.0], [1.0]
    for _ in range(steps):
        s_quad += rate * math.exp(-s_quad)
        s_inv += rate * math.exp(-2 * s_inv)
        quad.append(math.exp(-s_quad))
        inv.append(math.exp(-s_inv))
    t = np.arange(steps + 1)
    np.testing.assert_allclose(theory.amos_distance_ratio(t, rate), quad, rtol=1e-3)
    np.testing.assert_allclose(theory.amos_distance_ratio(t, rate, "inverse"), inv, rtol=1e-3)
    T = 200.0
    assert theory.amos_distance_ratio(T, theory.amos_half_life_rate(T)) == pytest.approx(2**-0.5)


def test_c14_large_eps_adam_step_is_sgd_step():
    """Adam's step η·m/(√v + ε) against the SGD step (η/ε)·m: relative gap √v/(√v + ε), float64."""
    rng = np.random.default_rng(0)
    m, v = rng.normal(size=100), rng.uniform(0.1, 4, size=100)
    lr = 0.3
    for eps in (1e2, 1e6):
        adam = lr * m / (np.sqrt(v) + eps)
        sgd = theory.adam_large_eps_lr(lr, eps) * m
        np.testing.assert_allclose(np.abs(adam / sgd - 1), np.sqrt(v) / (np.sqrt(v) + eps), rtol=1e-6)


def test_c14_epsilon_matching_lr_equates_the_steps():
    """003's ε_t makes η₀ m/(√v + ε_t) equal η_t m/(√v + ε₀), checked by substitution in float64."""
    rng = np.random.default_rng(1)
    m, sqrt_v = rng.normal(size=50), rng.uniform(1e-3, 1, size=50)
    lr0, lr_t, eps0 = 1e-3, 2.5e-4, 1e-8
    eps_t = theory.epsilon_matching_lr(lr0, lr_t, eps0, sqrt_v)
    np.testing.assert_allclose(lr0 * m / (sqrt_v + eps_t), lr_t * m / (sqrt_v + eps0), rtol=1e-12)
    assert np.all(eps_t > sqrt_v)  # a 4× lr decay needs ε_t ≈ 3√v: not ε ≫ √v
