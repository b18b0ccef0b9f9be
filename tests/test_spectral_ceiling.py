"""Muon's spectral ceiling (C15): the `ceiling` probe against numpy, and Muon runs against
`theory.muon_spectral_ceiling` (float64)."""
import math

import numpy as np
import pytest
import torch

from toylab import engine, theory
from toylab.config import RunConfig
from toylab.optim import get, hyperparameters
from toylab.options import resolve
from toylab.probes import Context, ceiling
from toylab.probes.orthogonality import polar_factor

PROBLEM = {"d": 7, "D": 4, "condition_number": 10.0, "batch_size": 8, "init_std": 1.0}
SCALE = math.sqrt(8 / 4)  # Muon's "original" lr scale √max(1, A/B) of the 8×4 weight


def muon_run(steps, probe_every=1, seeds=(0,), **hparams):
    configs = [RunConfig("linear_regression", "muon", dict(PROBLEM), hparams=dict(hparams), steps=steps, seed=s,
                         dtype="float64", probes=("ceiling",), probe_every=probe_every).resolve() for s in seeds]
    result = engine.run_batch(configs)
    return result, result.tables["ceiling"]


def series(table, quantity, config=0):
    rows = table[(table.quantity == quantity) & (table.config == config)]
    return rows.step.to_numpy(), rows.value.to_numpy()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_op_norm_is_the_top_singular_value_of_numpy(dtype, gen):
    W = torch.randn(5, 9, 4, generator=gen, dtype=torch.float64)
    expected = np.linalg.svd(W.numpy(), compute_uv=False)[:, 0]
    tolerance = 1e-13 if dtype == torch.float64 else 1e-6  # float32: the rounding of the entries
    np.testing.assert_allclose(ceiling.op_norm(W.to(dtype)).numpy(), expected, rtol=tolerance)


def test_probe_values_equal_numpy_on_a_muon_run():
    """The last step of a 6-step run: θ_5 (a 5-step run) and θ_6 give every quantity by numpy."""
    hp = {"lr": 0.05, "weight_decay": 0.3}
    result, table = muon_run(6, probe_every=3, **hp)
    before = muon_run(5, **hp)[0].params["W"][0].numpy()
    after = result.params["W"][0].numpy()
    last = table[table.step == 6]
    value = lambda q: last[last.quantity == q].value.to_numpy()  # noqa: E731
    op = np.linalg.svd(after, compute_uv=False)[0]
    applied = (after - (1 - 0.05 * 0.3) * before) / 0.05
    assert value("op_norm") == pytest.approx([op], rel=1e-12)
    assert value("ceiling_ratio") == pytest.approx([0.3 * op / SCALE], rel=1e-12)
    assert value("update_scale") == pytest.approx([np.linalg.svd(applied, compute_uv=False)[0]], rel=1e-10)
    np.testing.assert_allclose(value("row_norms"), np.linalg.norm(after, axis=1), rtol=1e-12)
    assert value("alignment") == pytest.approx([op**2 / (after**2).sum()], rel=1e-12)
    assert sorted(table.step.unique()) == [1, 3, 6]


def test_other_optimizers_record_the_norms_but_no_ceiling():
    config = RunConfig("linear_regression", "adamw", dict(PROBLEM), steps=3, dtype="float64",
                       probes=("ceiling",)).resolve()
    quantities = set(engine.run_batch([config]).tables["ceiling"].quantity.unique())
    assert quantities == {"op_norm", "row_norms", "alignment"}


def test_a_constant_gradient_direction_reaches_the_ceiling_exactly(gen):
    """O_t = polar(G) for every t (the buffer of a constant G is a multiple of G; exact polar factor),
    W_0 = 0: W_t = −(1 − β^t)(s/λ)·polar(G), so the probe's λ‖W_t‖_op/s is 1 − β^t, and the bound of
    `theory.muon_spectral_ceiling` is attained."""
    muon = get("muon")
    lr, wd, steps = 0.1, 0.5, 60
    G = torch.randn(1, 8, 4, generator=gen, dtype=torch.float64)
    values = resolve("muon", muon.hparams, dict(lr=lr, weight_decay=wd, orthogonalizer="svd"))
    hp = hyperparameters(muon, [values], torch.float64, "cpu")
    params = {"W": torch.zeros(1, 8, 4, dtype=torch.float64)}
    state = muon.init(params, hp)
    beta = 1 - lr * wd
    bound = theory.muon_spectral_ceiling(np.full(steps, lr), wd, SCALE, 0.0)
    for t in range(1, steps + 1):
        before = params
        params, state, aux = muon.update({"W": G}, state, params, hp, t)
        expected = -(1 - beta**t) * SCALE / wd * polar_factor(G)
        torch.testing.assert_close(params["W"], expected, rtol=1e-12, atol=1e-14)
        ctx = Context(None, "muon", t, before, params, {"W": G}, {}, state, aux, hp, [], [])
        out = ceiling.measure(ctx)
        assert float(out[("ceiling_ratio", "W")]) == pytest.approx(1 - beta**t, rel=1e-12)
        assert float(out[("update_scale", "W")]) == pytest.approx(SCALE, rel=1e-12)
        assert float(out[("alignment", "W")]) == pytest.approx(1 / 4, rel=1e-12)  # 4 equal singular values
        assert float(out[("op_norm", "W")]) == pytest.approx(bound[t - 1], rel=1e-12)
    assert theory.muon_spectral_radius(SCALE, wd) == pytest.approx(SCALE / wd)


def test_ceiling_bound_closed_forms():
    lr, wd = np.array([0.1, 0.2, 0.05]), 0.5
    bound = theory.muon_spectral_ceiling(lr, wd, 2.0, 10.0)
    radius = theory.muon_spectral_radius(2.0, wd)
    np.testing.assert_allclose(bound, radius + np.cumprod(1 - lr * wd) * (10.0 - radius), rtol=1e-14)
    assert theory.muon_spectral_ceiling(lr, 0.0, 2.0, 1.0).tolist() == pytest.approx([1.2, 1.6, 1.7])


@pytest.mark.parametrize("orthogonalizer", ["svd", "newton_schulz"])
@pytest.mark.parametrize("wd", [0.1, 1.0])
def test_muon_runs_stay_under_the_ceiling(orthogonalizer, wd):
    """Linear regression from ‖W_0‖_op above the ceiling (λ = 1) and below it (λ = 0.1), 3 seeds, 500
    steps, η = 0.02, probed every step: ‖W_t‖_op never exceeds the bound b_t of
    `theory.muon_spectral_ceiling` started from W_1, with ρ_t = ‖O_t‖_op measured (update_scale/s),
    up to rounding (1e-10 relative). With the exact polar factor (ρ = 1), λ‖W_t‖_op/s ≤ 1 + 1e-3 once
    the transient term (1 − ηλ)^{t−1}(λ‖W_1‖/s − 1) is below 1e-3. At λ = 1 the ceiling binds
    (W* lies outside it: the ratio ends above 0.95); at λ = 0.1 it does not (below 0.9)."""
    lr, steps = 0.02, 500
    _, table = muon_run(steps, seeds=(0, 1, 2), lr=lr, weight_decay=wd, orthogonalizer=orthogonalizer)
    for config in range(3):
        steps_, ratio = series(table, "ceiling_ratio", config)
        rho = series(table, "update_scale", config)[1] / SCALE
        op = series(table, "op_norm", config)[1]
        assert steps_.tolist() == list(range(1, steps + 1))
        bound = theory.muon_spectral_ceiling(np.full(steps - 1, lr), wd, SCALE, op[0], rho[1:])
        assert np.all(op[1:] <= bound * (1 + 1e-10))
        if orthogonalizer == "svd":
            np.testing.assert_allclose(rho, 1.0, rtol=1e-10)
            transient = (1 - lr * wd) ** np.arange(steps) * (ratio[0] - 1)
            settled = transient < 1e-3
            assert settled[-1]
            assert np.all(ratio[settled] <= 1 + 1e-3)
        assert ratio[-1] > 0.95 if wd == 1.0 else ratio.max() < 0.9
