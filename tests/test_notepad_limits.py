"""docs/claims.md C14 at the optimizer level, against torch.optim.SGD as the reference (float64):
Adam with β2 = 0, ε = 10²⁰ ≫ |g|, lr = η·ε, no bias correction and m₀ = g₁ is SGD with momentum =
dampening = β1 and lr η to rounding; each term the notepad's comparison leaves in breaks that."""
import numpy as np
import pytest
import torch

from optim_util import run_single, run_torch, trajectory
from toylab import optim

EPS = 1e20
SGD_LR, BETA1 = 0.05, 0.9
MATCHED = dict(lr=SGD_LR * EPS, betas=(BETA1, 0.0), eps=EPS, weight_decay=0.0, bias_correction=False, zero_init=False)


def gap(a, b):
    return max(float((x - y).norm() / y.norm()) for x, y in zip(a, b))


def test_matched_beta2_zero_adam_is_torch_sgd_to_rounding():
    params, grads = trajectory(steps=60)
    sgd = run_torch(torch.optim.SGD, dict(lr=SGD_LR, momentum=BETA1, dampening=BETA1), params, grads)
    adam, _ = run_single(optim.get("adamw"), MATCHED, params, grads)
    assert gap(adam, sgd) < 1e-13


@pytest.mark.parametrize("change", [dict(eps=1e-8, lr=SGD_LR), dict(bias_correction=True), dict(zero_init=True)])
def test_each_adam_term_breaks_the_match(change):
    params, grads = trajectory(steps=60)
    sgd = run_torch(torch.optim.SGD, dict(lr=SGD_LR, momentum=BETA1, dampening=BETA1), params, grads)
    adam, _ = run_single(optim.get("adamw"), {**MATCHED, **change}, params, grads)
    assert gap(adam, sgd) > 1e-3


def test_torch_default_dampening_breaks_the_match():
    params, grads = trajectory(steps=60)
    sgd = run_torch(torch.optim.SGD, dict(lr=SGD_LR, momentum=BETA1), params, grads)  # dampening 0
    adam, _ = run_single(optim.get("adamw"), MATCHED, params, grads)
    assert gap(adam, sgd) > 1e-1


def test_large_eps_gap_falls_as_one_over_eps():
    """Adam(β2 = 0.999) with ε and lr = η·ε against the matched SGD: gap ∝ 1/ε for ε ≫ |g| ~ 1."""
    params, grads = trajectory(steps=60)
    sgd = run_torch(torch.optim.SGD, dict(lr=SGD_LR, momentum=BETA1, dampening=BETA1), params, grads)
    eps = np.array([1e3, 1e5])
    gaps = [gap(run_single(optim.get("adamw"), {**MATCHED, "betas": (BETA1, 0.999), "eps": e, "lr": SGD_LR * e},
                           params, grads)[0], sgd) for e in eps]
    slope = np.diff(np.log(gaps)) / np.diff(np.log(eps))
    assert slope[0] == pytest.approx(-1.0, abs=0.02)
