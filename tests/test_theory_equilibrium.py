"""Equilibrium spectra (C16) and the weight RMS under lr schedules (C6): toylab.theory against
closed forms, scipy quadrature and seeded simulations of θ ← (1 − ηλ)θ − ηu (float64)."""
import numpy as np
import pytest
import torch
from scipy import integrate

from toylab import theory


def walk(updates: torch.Tensor, lr, weight_decay) -> torch.Tensor:
    """θ_T of θ_t = (1 − η_tλ)θ_{t−1} − η_t u_t from θ_0 = 0; `updates` is `[R, T, ...]`, lr a scalar or `[T]`."""
    lr = np.broadcast_to(np.asarray(lr, dtype=float), updates.shape[1:2])
    theta = torch.zeros_like(updates[:, 0])
    for t in range(updates.shape[1]):
        theta = (1 - lr[t] * weight_decay) * theta - lr[t] * updates[:, t]
    return theta


def ema(g: torch.Tensor, beta1, m0=None) -> torch.Tensor:
    """m_t = β1 m_{t−1} + (1 − β1) g_t along axis 1, from m_0 (default 0)."""
    m, out = torch.zeros_like(g[:, 0]) if m0 is None else m0, torch.empty_like(g)
    for t in range(g.shape[1]):
        m = beta1 * m + (1 - beta1) * g[:, t]
        out[:, t] = m
    return out


def polar(U: torch.Tensor) -> torch.Tensor:
    left, _, right = torch.linalg.svd(U, full_matrices=False)
    return left @ right


def top(W: torch.Tensor) -> np.ndarray:
    return torch.linalg.matrix_norm(W, ord=2).numpy()


# ----- random-matrix pieces ---------------------------------------------------------------------
@pytest.mark.parametrize("m, n", [(40, 40), (120, 40), (30, 90)])
def test_marchenko_pastur_density_is_a_density_with_the_frobenius_mean(m, n):
    """∫f = 1 and ∫σ²f = v·max(m, n) (= E‖W‖_F²/min(m, n)), by quadrature."""
    v = 0.3
    lower, upper = theory.marchenko_pastur_edges(v, m, n)
    f = lambda s: theory.marchenko_pastur_density(s, v, m, n)  # noqa: E731
    assert integrate.quad(f, lower, upper, limit=200)[0] == pytest.approx(1, abs=1e-6)
    assert integrate.quad(lambda s: s * s * f(s), lower, upper, limit=200)[0] == pytest.approx(v * max(m, n), rel=1e-6)
    assert f(np.array([0.99 * lower, 1.01 * upper])).tolist() == [0.0, 0.0]


def test_marchenko_pastur_law_matches_the_singular_values_of_a_gaussian_matrix():
    """The CDF of the density against one 400×200 N(0, v) matrix's singular values: KS distance < 0.03."""
    m, n, v = 400, 200, 2.0
    sigma = np.sort(np.linalg.svd(np.random.default_rng(0).normal(0, np.sqrt(v), (m, n)), compute_uv=False))
    lower, _ = theory.marchenko_pastur_edges(v, m, n)
    cdf = np.array([integrate.quad(theory.marchenko_pastur_density, lower, s, args=(v, m, n))[0] for s in sigma])
    empirical = np.arange(1, n + 1) / n
    assert np.abs(cdf - empirical).max() < 0.03


@pytest.mark.parametrize("m, n", [(64, 64), (128, 32)])
def test_expected_top_singular_value_of_gaussian_matrices(m, n):
    """Johnstone's finite-size mean within 1 % of 60 N(0, 1) matrices (their mean has ~0.3 % error);
    the asymptotic edge √m + √n is off by more than that at these sizes."""
    sigma = top(torch.randn(60, m, n, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert sigma.mean() == pytest.approx(theory.expected_top_singular_value(1.0, m, n), rel=0.01)
    assert sigma.mean() < 0.985 * theory.marchenko_pastur_edges(1.0, m, n)[1]


def test_spiked_top_singular_value_against_simulation_and_continuity():
    """The outlier of a rank-one spike 2.5× the threshold in 200×100 N(0, 1) noise: within 2 % of
    10 samples (the finite-size outlier sits ≈ 1 % above its limit, with a spread of ≈ 1 %)."""
    m, n, v = 200, 100, 1.0
    threshold = np.sqrt(v) * (m * n) ** 0.25
    edge = theory.marchenko_pastur_edges(v, m, n)[1]
    assert theory.spiked_top_singular_value(threshold * (1 + 1e-9), v, m, n) == pytest.approx(edge, rel=1e-6)
    assert theory.spiked_top_singular_value(0.5 * threshold, v, m, n) == edge
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(m), rng.standard_normal(n)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    theta = 2.5 * threshold
    sigma = [np.linalg.norm(theta * np.outer(x, y) + rng.standard_normal((m, n)), 2) for _ in range(10)]
    assert np.mean(sigma) == pytest.approx(theory.spiked_top_singular_value(theta, v, m, n), rel=0.02)


def test_free_orthogonal_sum_edge_closed_forms():
    """t equal weights: Kesten–McKay 2a√(t − 1); one weight: a; many small ones: 2√Σa² (free CLT)."""
    for t in (2, 3, 10):
        assert theory.free_orthogonal_sum_edge([0.3] * t) == pytest.approx(2 * 0.3 * np.sqrt(t - 1), rel=1e-9)
    assert theory.free_orthogonal_sum_edge([0.7]) == 0.7
    small = 1e-3 * 0.9999 ** np.arange(200_000)
    assert theory.free_orthogonal_sum_edge(small) == pytest.approx(2 * np.sqrt(np.sum(small**2)), rel=1e-3)


# ----- C16: the equilibrium spectrum against simulated recurrences ------------------------------
def test_stationary_walk_variance_is_the_decayed_walk_at_infinity():
    for c in (theory.ema_autocorrelation(0.9), theory.sign_ema_autocorrelation(0.9), [1.0]):
        assert theory.stationary_walk_variance(1e-2, 0.5, c) == pytest.approx(
            theory.decayed_walk_rms(np.inf, 1e-2, 0.5, c, 0.0) ** 2, rel=1e-12)
    assert theory.stationary_walk_variance(1e-3, 0.1, [1.0]) == pytest.approx(1e-3 / (2 * 0.1) / (1 - 1e-4 / 2))


@pytest.mark.parametrize("update, autocorrelation", [
    ("adamw", theory.ema_autocorrelation(0.9)),  # u = m/σ, v frozen at σ² = 1 (C2)
    ("signum", theory.sign_ema_autocorrelation(0.9)),  # u = sign(m) (C3)
])
def test_equilibrium_spectrum_of_elementwise_updates(update, autocorrelation):
    """AdamW- and Signum-like updates of i.i.d. N(0, 1) gradients, β1 = 0.9, ηλ = 0.01, 600 steps
    (12 relaxation times of E[θ²]), 6 chains of 96×48: the entry variance within 3 % (sampling
    error ~1 %), σ_max within 2 % of the finite-size mean of the predicted bulk (≲ 1 % sampling error)."""
    m, n, lr, wd = 96, 48, 1e-2, 1.0
    momentum = ema(torch.randn(6, 600, m, n, generator=torch.Generator().manual_seed(3), dtype=torch.float64), 0.9)
    W = walk(momentum if update == "adamw" else torch.sign(momentum), lr, wd)
    spectrum = theory.equilibrium_spectrum(lr, wd, autocorrelation, m, n)
    assert float((W * W).mean()) == pytest.approx(spectrum.entry_rms**2, rel=0.03)
    assert top(W).mean() == pytest.approx(theory.expected_top_singular_value(spectrum.entry_rms**2, m, n), rel=0.02)
    assert spectrum.top == spectrum.bulk_upper  # no mean update, no outlier


def test_muon_equilibrium_without_momentum_is_the_free_sum_of_orthogonal_updates():
    """u = s·polar(G), G i.i.d. Gaussian (Haar orthogonal u/s), 64×64, ηλ = 0.05, s = 1.5, 6 chains
    of 150 steps: the entry variance (η²s²/n)/(1 − β²) within 3 %; σ_max within 4 % below the exact
    free-probability edge (its finite-size shift at n = 64 is about −2.5 %, as Johnstone's is −2.8 %
    for Gaussian matrices), and the free edge within 3 % below the Marchenko–Pastur edge 2√(n·v)."""
    n, lr, wd, scale = 64, 0.05, 1.0, 1.5
    O = polar(torch.randn(6, 150, n, n, generator=torch.Generator().manual_seed(4), dtype=torch.float64))
    W = walk(scale * O, lr, wd)
    spectrum = theory.equilibrium_spectrum(lr, wd, [theory.orthogonal_update_moment(scale, n, n)], n, n)
    assert float((W * W).mean()) == pytest.approx(spectrum.entry_rms**2, rel=0.03)
    free = theory.free_orthogonal_sum_edge(lr * scale * (1 - lr * wd) ** np.arange(2000))
    assert top(W).mean() == pytest.approx(free, rel=0.04)
    assert top(W).mean() < free
    assert 0.97 * spectrum.bulk_upper < free < spectrum.bulk_upper


def test_muon_equilibrium_with_momentum_from_the_updates_own_autocorrelation():
    """Momentum μ = 0.9 correlates the orthogonal updates: c_k measured from the simulated sequence
    itself (the optimizer's own update statistics), then the predicted entry variance within 4 % and
    σ_max within 6 % of the finite-size mean of the predicted bulk (32×32, ηλ = 0.004, 2 chains of 900 steps)."""
    n, lr, wd = 32, 4e-3, 1.0
    O = polar(ema(torch.randn(2, 900, n, n, generator=torch.Generator().manual_seed(5), dtype=torch.float64), 0.9))
    late = O[:, 100:]
    c = np.array([float((late[:, :late.shape[1] - k] * late[:, k:]).sum((-1, -2)).mean()) / n**2 for k in range(80)])
    assert c[0] == pytest.approx(theory.orthogonal_update_moment(1.0, n, n), rel=1e-12)
    assert 0.5 < c[1] / c[0] < 0.9  # correlated, less than the Gaussian momentum's own 0.9
    W = walk(O, lr, wd)
    spectrum = theory.equilibrium_spectrum(lr, wd, c, n, n)
    assert float((W * W).mean()) == pytest.approx(spectrum.entry_rms**2, rel=0.04)
    assert top(W).mean() == pytest.approx(theory.expected_top_singular_value(spectrum.entry_rms**2, n, n), rel=0.06)


# ----- C6: the weight RMS along lr schedules -----------------------------------------------------
def wsd(steps, base, warmup, decay):
    """Warmup–stable–decay: linear warmup, constant, linear decay to 0 over the last `decay` steps."""
    t = np.arange(1, steps + 1)
    return base * np.minimum(1, t / warmup) * np.clip((steps - t) / decay, 0, 1)


SCHEDULES = {
    "cosine": lambda T, base: base * (1 + np.cos(np.pi * np.arange(1, T + 1) / T)) / 2,
    "linear": lambda T, base: base * (1 - np.arange(1, T + 1) / T),
    "wsd": lambda T, base: wsd(T, base, T // 20, T // 5),
}


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("beta1", [0.0, 0.9])
def test_scheduled_weight_rms_against_the_simulated_walk(kind, beta1):
    """10,000 coordinates of θ ← (1 − η_tλ)θ − η_t u_t, u = m/σ with m a stationary EMA of i.i.d.
    N(0, 1) gradients (β1 = 0: u = g), η_max λ = 0.02, 1,500 steps from RMS(θ_0) = 0.05: RMS(θ_t)
    within 3 % of the recurrence at every 25th step (sampling error of the RMS ≈ 0.7 %, 60 points)."""
    steps, lr_max, wd, r0 = 1500, 0.02, 1.0, 0.05
    lr = SCHEDULES[kind](steps, lr_max)
    gen = torch.Generator().manual_seed(6)
    u = torch.randn(1, steps, 10_000, generator=gen, dtype=torch.float64)
    if beta1:  # unit variance and autocorrelation β1^k from the first step: m_0 drawn stationary
        m0 = theory.adam_update_rms(beta1) * torch.randn(1, 10_000, generator=gen, dtype=torch.float64)
        u = ema(u, beta1, m0) / theory.adam_update_rms(beta1)
    autocorrelation = theory.ema_autocorrelation(beta1) / theory.adam_update_rms(beta1) ** 2
    predicted = theory.scheduled_weight_rms(lr, wd, r0, autocorrelation)
    theta, rms = r0 * torch.randn(10_000, generator=gen, dtype=torch.float64), []
    for t in range(steps):
        theta = (1 - lr[t] * wd) * theta - lr[t] * u[0, t]
        rms.append(float(theta.pow(2).mean().sqrt()))
    np.testing.assert_allclose(np.array(rms)[24::25], predicted[24::25], rtol=0.03)


@pytest.mark.parametrize("autocorrelation", [[1.0], theory.sign_ema_autocorrelation(0.9),
                                             theory.ema_autocorrelation(0.5)])
def test_scheduled_weight_rms_at_constant_lr_is_the_decayed_walk(autocorrelation):
    """The transient too: both are exact sums of the same terms (float64 rounding)."""
    lr, wd, r0 = 3e-3, 0.5, 0.2
    t = np.arange(1, 5001)
    np.testing.assert_allclose(theory.scheduled_weight_rms(np.full(5000, lr), wd, r0, autocorrelation),
                               theory.decayed_walk_rms(t, lr, wd, autocorrelation, r0), rtol=1e-10)


def test_slow_schedules_follow_the_quasi_static_limit_and_fast_decays_lag_it():
    """Cosine to 10 % over 50,000 steps (relaxation time 1/(2η_tλ) = 50…500 steps): within 2 % of
    √(η_t²C/(1 − β_t²)) after 250 steps; over 5,000 steps the lag reaches more than 10 %; a linear
    decay to 0 over 4 relaxation times ends far above the quasi-static value (the weights freeze)."""
    wd, lr_max = 1.0, 0.01
    for steps, within in ((50_000, True), (5_000, False)):
        lr = lr_max * (0.1 + 0.9 * (1 + np.cos(np.pi * np.arange(1, steps + 1) / steps)) / 2)
        ratio = theory.scheduled_weight_rms(lr, wd, 0.0)[250:] / theory.quasi_static_weight_rms(lr, wd)[250:]
        assert (np.abs(ratio - 1).max() < 0.02) == within
        assert np.abs(ratio - 1).max() > 0.1 or within
    assert theory.quasi_static_weight_rms(lr_max, wd) == pytest.approx(np.sqrt(lr_max / (2 * wd)), rel=0.01)
    fast = np.concatenate([np.full(1000, lr_max), lr_max * (1 - np.arange(1, 201) / 200)])
    end = theory.scheduled_weight_rms(fast, wd, 0.0)[-2]
    assert end > 3 * theory.quasi_static_weight_rms(fast[-2], wd)


def test_the_quasi_static_weight_rms_at_a_zero_lr_is_its_limit_zero():
    """The end of a decay to 0 (η_T = 0): 0, the η → 0 limit √(η/(2λ)) → 0, not 0/0."""
    lr, c = np.array([0.0, 1e-12, 1e-10]), theory.sign_ema_autocorrelation(0.9)
    rms = theory.quasi_static_weight_rms(lr, 0.5, c)
    assert rms[0] == 0.0
    np.testing.assert_allclose(rms[1:], np.sqrt(lr[1:] / (2 * 0.5) * (2 * c.sum() - c[0])), rtol=1e-3)
