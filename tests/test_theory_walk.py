"""The decayed walk of correlated updates (toylab.theory: C2/C3 beyond the mean field) against
hand-expanded sums, the arcsine law by Monte Carlo, and a direct float64 simulation of Signum."""
import math

import numpy as np
import pytest

from toylab import theory


@pytest.mark.parametrize("rho", [0.3, 0.9])
def test_arcsine_law_monte_carlo(rho):
    """E[sign(x) sign(y)] = (2/π)·arcsin(ρ) for a standard bivariate normal (x, y) with correlation ρ."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400_000)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(x.size)
    prod = np.sign(x) * np.sign(y)
    expected = 2 / math.pi * math.asin(rho)
    assert abs(prod.mean() - expected) < 4 * prod.std() / math.sqrt(x.size)


def test_sign_ema_autocorrelation_values():
    c = theory.sign_ema_autocorrelation(0.9)
    assert c[0] == 1.0 and c[1] == pytest.approx(2 / math.pi * math.asin(0.9), rel=1e-15)
    assert np.all(c[1:] <= 0.9 ** np.arange(1, len(c)))  # (2/π)·arcsin(x) ≤ x on [0, 1]
    assert 0.9 ** (len(c) - 1) < 1e-16
    assert theory.sign_ema_autocorrelation(0.0).tolist() == [1.0]  # SignSGD: independent signs


def test_decayed_walk_hand_expansion():
    """t = 1, 2 expanded by hand from θ_t = β3 θ_{t−1} − η u_t: E θ_1² = β3² θ₀² + η² c_0,
    E θ_2² = β3⁴ θ₀² + η² (c_0 (1 + β3²) + 2 β3 c_1)."""
    lr, wd, r0, c = 0.01, 0.5, 0.3, [1.0, 0.4, 0.1]
    b3 = 1 - lr * wd
    got = theory.decayed_walk_rms([1, 2], lr, wd, c, r0) ** 2
    np.testing.assert_allclose(got, [b3**2 * r0**2 + lr**2, b3**4 * r0**2 + lr**2 * (1 + b3**2 + 2 * b3 * 0.4)],
                               rtol=1e-12)
    # t → ∞: η²/(1 − β3²) · (c_0 + 2 Σ_k β3^k c_k)
    steady = lr**2 / (1 - b3**2) * (1 + 2 * (b3 * 0.4 + b3**2 * 0.1))
    assert theory.decayed_walk_rms(np.inf, lr, wd, c, r0) ** 2 == pytest.approx(steady, rel=1e-12)


def test_adamw_linear_steady_state_closed_form_and_eq7():
    """c_k = κ β1^|k| sums to η/(2λ)·κ(1+β1β3)/(1−β1β3)/(1−ηλ/2) ≈ eq. 19; its k = 0 term alone is eq. 7."""
    lr, wd, b1 = 1e-3, 0.1, 0.9
    b3, kappa = 1 - lr * wd, (1 - b1) / (1 + b1)
    closed = lr / (2 * wd) * kappa * (1 + b1 * b3) / (1 - b1 * b3) / (1 - lr * wd / 2)
    assert theory.adamw_weight_rms_linear(np.inf, lr, wd, b1, 0.1) ** 2 == pytest.approx(closed, rel=1e-12)
    assert theory.adamw_weight_rms_linear(np.inf, lr, wd, b1, 0.1) == pytest.approx(
        theory.adamw_weight_rms_steady(lr, wd), rel=1e-3)
    k0_only = theory.decayed_walk_rms(np.inf, lr, wd, [kappa], 0.1)
    assert k0_only * math.sqrt(1 - lr * wd / 2) == pytest.approx(theory.adamw_weight_rms_quick(lr, wd, b1), rel=1e-12)


def test_signum_exact_against_direct_simulation():
    """Signum + decoupled decay on N(0, 1) gradients (β1 = 0.9, ηλ = 0.02), simulated in float64 over
    N = 4000 coordinates with m started from its stationary law: mean θ² over steps 250–2000 (5–40 decay timescales; sampling error ≈ 0.5 %)
    within 2 % of the exact steady state, and over steps 40–60 within 6 % of the exact transient;
    eq. 26 is 30 % above the same steady state."""
    rng = np.random.default_rng(1)
    n, lr, wd, b1, r0 = 4000, 0.02, 1.0, 0.9, 0.05
    theta = r0 * rng.standard_normal(n)
    m = math.sqrt((1 - b1) / (1 + b1)) * rng.standard_normal(n)  # m from its stationary law
    sq = []
    for _ in range(2000):
        m = b1 * m + (1 - b1) * rng.standard_normal(n)
        theta = (1 - lr * wd) * theta - lr * np.sign(m)
        sq.append(np.mean(theta**2))
    sq, t = np.array(sq), np.arange(1, 2001)
    steady = theory.signum_weight_rms_exact(np.inf, lr, wd, b1, r0) ** 2
    assert sq[249:].mean() == pytest.approx(steady, rel=0.02)
    transient = theory.signum_weight_rms_exact(t[39:60], lr, wd, b1, r0) ** 2
    assert sq[39:60].mean() == pytest.approx(transient.mean(), rel=0.06)
    assert theory.signum_weight_rms_steady(lr, wd, b1) ** 2 / steady > 1.3
