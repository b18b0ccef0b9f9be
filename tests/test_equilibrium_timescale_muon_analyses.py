"""Estimators of the C9 and C13 analyses on synthetic data with known answers (docs/claims.md)."""
import numpy as np
import pandas as pd
import pytest

from toylab import claims, theory


@pytest.mark.parametrize("power, slope", [(0.0, -1.0), (-1.0, 0.0), (1.0, -2.0)])
def test_slope_of_best_weight_decay_against_dataset_size(power, slope):
    """best τ_epoch = 4·(N/64)^power: stays put (power 0) → λ ∝ 1/N; τ_epoch ∝ 1/N → λ constant."""
    grid = 2.0 ** (np.arange(-4, 25) / 2)
    rows = []
    for N in (64, 128, 256, 512):
        tau0 = 4.0 * (N / 64) ** power
        for seed in range(3):
            rows += [{"n_train": N, "seed": seed, "tau_epoch": t,
                      "value": np.exp((np.log(t) - np.log(tau0)) ** 2 + 0.001 * seed)} for t in grid]
    final = pd.DataFrame(rows)
    best = {N: 4.0 * (N / 64) ** power for N in (64, 128, 256, 512)}
    got = claims.get("ema_timescale").module.seed_slopes(final, best, lr=0.03, batch=16)
    assert got.to_numpy() == pytest.approx([slope] * 3, abs=1e-6)
    assert theory.weight_decay_for_tau_epoch(0.03, 4, 2.0) == pytest.approx(1 / (0.03 * 4 * 2.0))


def test_the_base_setting_lies_on_every_axis_but_rank_and_a_varied_setting_on_its_own():
    """`muon_where.regions`: one row per (run, axis); the base on the condition, outputs, batch and
    noise axes, an effective-rank run on `rank` only (it changes κ too), other problems on `problem`."""
    module = claims.get("muon_where").module
    base = module.SETTINGS["base"]
    runs = pd.DataFrame([{"run": "a", "problem": "linear_regression", **base},
                         {"run": "b", "problem": "linear_regression", **base, "condition_number": 1.0, "effective_rank": 4.0},
                         {"run": "c", "problem": "linear_regression", **base, "D": 32},
                         {"run": "d", "problem": "scale_invariant", **base}])
    got = module.regions(runs, base).set_index(["run", "axis"])["group"].to_dict()
    assert got == {("a", "condition"): "κ=100", ("a", "outputs"): "D=8", ("a", "batch"): "B=32", ("a", "noise"): "e=0.1",
                   ("b", "rank"): "r=4", ("c", "outputs"): "D=32", ("d", "problem"): "scale_invariant"}
