"""toylab.layer_equilibrium: the variant names the normalized-layer checks use and the relaxation
time their regimes count in, against values worked out by hand."""
import pytest

from toylab import layer_equilibrium as le


def run(optimizer="sgd", lr=0.05, weight_decay=0.1, momentum=0.0, corrected_decay=False, betas="0.9,0.99",
        lr_schedule=None):
    return dict(optimizer=optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum, dampening=0.0,
                corrected_decay=corrected_decay, betas=betas, lr_schedule=lr_schedule)


@pytest.mark.parametrize("config, name", [
    (run(), "SGD"),
    (run(momentum=0.9), "SGD (β=0.9)"),
    (run(corrected_decay=True, lr_schedule="cosine"), "SGDC cosine"),
    (run(lr_schedule="constant"), "SGD"),
    (run("adamw", betas="0.0,0.99"), "AdamW β1=0"),
    (run("adamw", corrected_decay=True, betas="0.0,0.99", lr_schedule="cosine"), "AdamC β1=0 cosine"),
])
def test_variant_names(config, name):
    assert le.variant(config) == name


def test_sgd_relaxation_is_one_over_effective_lr_times_decay():
    """1/(γλ/(1−β)): γ = 0.005, β = 0.9, λ = 0.1 → 200 steps; γ = 0.05, λ = 0.3 → 66.7 steps."""
    assert le.relaxation(run(lr=0.005, momentum=0.9)) == pytest.approx(200.0, rel=1e-12)
    assert le.relaxation(run(weight_decay=0.3)) == pytest.approx(1 / 0.015, rel=1e-12)


def test_adamw_relaxation_is_the_slow_mode_at_its_beta2():
    """κ = [(2p+q) − √(4p²+q²)]/2, p = 2γλ = 0.018, q = 1−β2 = 0.01: 1/κ ≈ 231 steps."""
    p, q = 2 * 0.03 * 0.3, 0.01
    kappa = ((2 * p + q) - (4 * p * p + q * q) ** 0.5) / 2
    assert le.relaxation(run("adamw", lr=0.03, weight_decay=0.3, betas="0.0,0.99")) == pytest.approx(1 / kappa, rel=1e-9)
