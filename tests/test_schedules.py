"""Schedules against hand-computed sequences, canonical specs and one-line errors."""
import math

import numpy as np
import pytest
import torch

from toylab import schedules
from toylab.options import UserError


def values(spec, steps, base=1.0):
    out = schedules.parse(spec).values(steps, base)
    assert out.dtype == torch.float64 and out.shape == (steps + 1,)
    return out.tolist()


def test_constant():
    assert values("constant", 3, 0.5) == [0.5, 0.5, 0.5, 0.5]


def test_cosine_without_and_with_warmup():
    assert values("cosine", 4, 2.0) == pytest.approx([2.0, 2 * (1 + math.cos(math.pi / 4)) / 2, 1.0,
                                                      2 * (1 + math.cos(3 * math.pi / 4)) / 2, 0.0])
    # warmup 2 of 6 steps, final 0.1: t/2 up to t = 2, then cosine over the 4 remaining steps.
    c = lambda s: 0.1 + 0.9 * (1 + math.cos(math.pi * s)) / 2  # noqa: E731
    assert values("cosine:warmup=2,final=0.1", 6) == pytest.approx([0.0, 0.5, 1.0, c(0.25), c(0.5), c(0.75), 0.1])


def test_linear_and_warmup():
    assert values("linear:final=0.2", 4) == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert values("linear:warmup=1", 3) == pytest.approx([0.0, 1.0, 0.5, 0.0])
    assert values("warmup:steps=4", 6, 3.0) == pytest.approx([0.0, 0.75, 1.5, 2.25, 3.0, 3.0, 3.0])


def test_warmup_stable_decay():
    assert values("wsd:warmup=1,decay=0.5", 4) == pytest.approx([0.0, 1.0, 1.0, 0.5, 0.0])
    assert values("wsd:decay=0.4,final=0.5", 5, 2.0) == pytest.approx([2.0, 2.0, 2.0, 2.0, 1.5, 1.0])
    assert values("wsd:decay=0", 3) == [1.0, 1.0, 1.0, 1.0]


def test_inverse_time_and_amos():
    assert values("inverse_time:half_life=2", 4) == pytest.approx([1.0, 2 / 3, 0.5, 0.4, 1 / 3])
    rate = (math.sqrt(2) - 1) / 10
    assert values("amos:half_life=10", 20) == pytest.approx([1 / (rate * t + 1) ** 2 for t in range(21)])
    assert values("amos:half_life=10", 10)[10] == pytest.approx(0.5)
    # inverse form: 1/(2α₀p₀t + 1) with α₀p₀ = 1/(2T), i.e. inverse-time decay with half-life T.
    assert values("amos:half_life=10,form=inverse", 30) == pytest.approx(values("inverse_time:half_life=10", 30))


def test_path_is_the_running_sum_of_the_values_used_by_the_updates():
    lrs = values("amos:half_life=10", 20, 0.3)
    path = schedules.parse("amos:half_life=10").path(20, 0.3)
    assert path.shape == (21,) and path[0] == 0.0
    assert path.tolist() == pytest.approx([sum(lrs[1:t + 1]) for t in range(21)], rel=1e-12)


def test_epsilon():
    # base = ε₀ = 1e-8; ε_max at 80 % of 10 steps, growth from 20 %, k = 1 per step.
    eps = values("epsilon:eps_max=1e-2,warmup=0.2,end=0.8,k=1", 10, 1e-8)
    A = (1e-2 - 1e-8) / (math.exp(6) - 1)
    expected = [1e-8, 1e-8] + [A * math.exp(t - 2) + 1e-8 - A for t in range(2, 8)] + [1e-2] * 3
    assert eps == pytest.approx(expected, rel=1e-12)


def test_epsilon_lr_takes_the_epsilon_schedules_step_at_its_sqrt_v():
    """docs/claims.md C14: Adam at lr η with ε(t) and Adam at lr η_t with ε₀ take the same step
    m/(√v + ε) where √v = sqrt_v, and not where √v differs (the ε schedule is per coordinate)."""
    keys = "eps_max=1.0,warmup=0.1,end=0.5,k=0.5"
    steps, lr, eps0, s = 40, 0.05, 1e-8, 0.02
    eps = np.array(values(f"epsilon:{keys}", steps, eps0))
    lr_t = np.array(values(f"epsilon_lr:eps0={eps0},sqrt_v={s},{keys}", steps, lr))
    np.testing.assert_allclose(lr / (s + eps), lr_t / (s + eps0), rtol=1e-12)
    assert lr_t[0] == pytest.approx(lr) and lr_t[-1] == pytest.approx(lr * (s + eps0) / (s + 1.0))
    assert not np.allclose(lr / (10 * s + eps), lr_t / (10 * s + eps0), rtol=1e-3)
    with pytest.raises(UserError, match="warmup <= end"):
        schedules.parse("epsilon_lr:warmup=0.9,end=0.5")


def test_canonical_spec():
    assert schedules.parse("constant").spec == "constant"
    assert schedules.parse("cosine").spec == schedules.parse(" cosine:final=0, warmup=0 ").spec
    assert schedules.parse("cosine:final=0.1,warmup=100").spec == "cosine:warmup=100,final=0.1"
    for spec in ["cosine:warmup=3,final=0.5", "amos:half_life=100.0,form=inverse", "epsilon:eps_max=0.1,warmup=0.0,end=1.0,k=0.5"]:
        parsed = schedules.parse(spec)
        assert schedules.parse(parsed.spec) == parsed


@pytest.mark.parametrize("spec,needle", [
    ("cosin", "'cosin'"),
    ("cosine:warmpu=10", "'warmpu'"),
    ("cosine:warmup=ten", "'ten'"),
    ("cosine:warmup=-1", ">= 0"),
    ("amos:form=cubic", "quadratic, inverse"),
    ("inverse_time:half_life=0", "> 0"),
    ("epsilon:warmup=0.9,end=0.5", "warmup <= end"),
    ("linear:final", "key=value"),
    ("wsd:decay=1.5", "0 <= x <= 1"),
])
def test_bad_specs_raise_one_line_user_errors(spec, needle):
    with pytest.raises(UserError) as err:
        schedules.parse(spec)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_bad_kind_lists_allowed_kinds():
    with pytest.raises(UserError, match="allowed: constant, cosine, linear, warmup, wsd, inverse_time, amos, epsilon"):
        schedules.parse("step")
