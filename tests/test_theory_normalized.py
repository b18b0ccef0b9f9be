"""Closed forms of the normalized-layer equilibrium (C5, C7, C8) against direct simulation in numpy."""
import numpy as np
import pytest

from toylab import theory


def heavy_ball_on_spheres(lr, wd, beta, pull, steps=6000, rows=64, d=32, seed=0):
    """Heavy-ball SGD with coupled decay (torch form) on rows of a scale-invariant loss
    ½·pull·‖x/‖x‖ − e‖² plus unit noise, both projected orthogonal to x and scaled by 1/‖x‖, float64.
    Returns (mean ‖Δx‖²/mean ‖x‖², mean ‖g‖²/mean ‖x‖²) over the second half."""
    rng = np.random.default_rng(seed)
    x, b = rng.standard_normal((rows, d)) * 0.05, np.zeros((rows, d))
    e = np.eye(d)[0]
    sums = np.zeros(3)
    for t in range(steps):
        n = np.linalg.norm(x, axis=1, keepdims=True)
        raw = rng.standard_normal((rows, d)) + pull * (x / n - e)
        g = (raw - (raw * x).sum(1, keepdims=True) * x / n**2) / n
        b = beta * b + g + wd * x
        step = -lr * b
        x = x + step
        if t >= steps // 2:
            sums += [(step**2).sum(), (g**2).sum(), (x**2).sum()]
    return sums[0] / sums[2], sums[1] / sums[2]


@pytest.mark.parametrize("pull", [0.0, 30.0])
def test_heavy_ball_step_ratio_is_exact_with_and_without_a_restoring_signal(pull):
    """‖Δx‖/‖x‖ = √(2γλ/(1+β)) within 0.5 % whatever the gradients' correlation in time; 002's
    ‖g‖/‖x‖ = √(2λ(1−β)/γ) holds on pure noise (within 1 %) and is off by > 2 % with a strong pull."""
    lr, wd, beta = 0.005, 0.1, 0.9
    step2, grad2 = heavy_ball_on_spheres(lr, wd, beta, pull)
    assert np.sqrt(step2) == pytest.approx(theory.heavy_ball_step_ratio(lr, wd, beta), rel=0.005)
    seed_002 = theory.equilibrium_ratio(theory.sgd_effective_lr(lr, beta), wd)
    off = abs(np.sqrt(grad2) / seed_002 - 1)
    assert (off < 0.01) if pull == 0 else (off > 0.02)


def test_heavy_ball_step_ratio_without_momentum_is_002_with_its_second_order_term():
    """β = 0: ‖Δx‖² = γ²(‖g‖² + λ²‖x‖²) and 002's (2λγ − λ²γ²)‖x‖² = γ²‖g‖² give 2γλ exactly."""
    lr, wd = 0.05, 0.3
    g2 = (2 * wd * lr - wd**2 * lr**2) / lr**2  # ‖g‖²/‖x‖² of 002, before dropping its λ²γ² term
    assert theory.heavy_ball_step_ratio(lr, wd, 0.0) ** 2 == pytest.approx(lr**2 * (g2 + wd**2), rel=1e-12)


@pytest.mark.parametrize("lr, wd, beta2", [(0.03, 0.3, 0.999), (0.03, 0.3, 0.99), (0.001, 0.1, 0.9)])
def test_adamw_norm_relaxation_matches_the_reduced_dynamics(lr, wd, beta2):
    """The discrete map r ← (1−γλ)² r + γ²/(r v), v ← β2 v + (1−β2)/r (g² ∝ 1/r, u² ∝ g²/v), kicked
    off its fixed point: the late decay rate of the deviation is 1/`adamw_norm_relaxation` within 1 %."""
    r, v = 1.0, 1.0
    for _ in range(200000):
        r, v = (1 - lr * wd) ** 2 * r + lr**2 / (r * v), beta2 * v + (1 - beta2) / r
    fixed = np.array([r, v])
    r, v = 1.3 * fixed
    tau = float(theory.adamw_norm_relaxation(lr, wd, beta2))
    devs = []
    for t in range(int(8 * tau)):
        r, v = (1 - lr * wd) ** 2 * r + lr**2 / (r * v), beta2 * v + (1 - beta2) / r
        devs.append(abs(np.log(r / fixed[0])))
    late = int(4 * tau)
    rate = np.log(devs[late] / devs[-1]) / (len(devs) - 1 - late)
    assert 1 / rate == pytest.approx(tau, rel=0.01)
    if beta2 == 0.999:
        assert tau == pytest.approx(2 / (1 - beta2), rel=0.05)  # v's memory, doubled by the coupling
