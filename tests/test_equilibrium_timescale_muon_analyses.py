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


def lr_frame(muon, other, setting="κ=1"):
    """Final values per (optimizer, lr, seed); `muon`/`other` map lr → list of per-seed values (seeds 0…4)."""
    rows = [{"setting": setting, "schedule": "constant", "optimizer": name, "lr": lr, "seed": s, "value": v}
            for name, grid in (("muon", muon), ("sgd", other)) for lr, vals in grid.items() for s, v in enumerate(vals)]
    return pd.DataFrame(rows)


def verdict_of(final, tune_seeds=(0, 1)):
    """C13-muon-best's group and headline rows: tuned on `tune_seeds`, scored on the rest."""
    (head, group), best = claims.get("muon_linear_regression").module.muon_best(final, list(tune_seeds), floor=1e-10,
                                                                                   margin=0.1)
    return group, head, best


def test_muon_best_holds_when_muon_is_lower_on_every_held_out_seed_at_interior_best_lrs():
    final = lr_frame({0.1: [1.0, 1.1, 1.2, 1.1, 1.0], 0.3: [0.1, 0.11, 0.12, 0.1, 0.11], 1.0: [np.inf] * 5},
                     {0.1: [1.0, 1.2, 1.1, 1.0, 1.1], 0.3: [0.5, 0.52, 0.55, 0.5, 0.5], 1.0: [2.0, 2.1, 2.2, 2.0, 2.1]})
    group, head, _ = verdict_of(final)
    assert group.verdict == "holds" and head.verdict == "holds" and group.n == 3
    assert group.measured == pytest.approx(np.exp(np.mean(np.log([0.12 / 0.55, 0.1 / 0.5, 0.11 / 0.5]))))


def test_the_lr_is_tuned_on_the_tuning_seeds_and_scored_on_the_others():
    """lr 0.3 is best on seeds 0, 1 and worst on 2–4: the score is Muon's at 0.3 on seeds 2–4, so it loses."""
    final = lr_frame({0.1: [1.0, 1.0, 0.01, 0.01, 0.01], 0.3: [0.1, 0.1, 9.0, 9.0, 9.0], 1.0: [2.0] * 5},
                     {0.1: [1.0] * 5, 0.3: [0.5] * 5, 1.0: [2.0] * 5})
    group, head, best = verdict_of(final)
    assert best.loc[("κ=1", "constant", "muon"), "best"] == 0.3
    assert group.verdict == "fails" and group.measured == pytest.approx(9.0 / 0.5)


def test_losses_below_the_floor_are_ties_not_fails():
    final = lr_frame({0.1: [1.0] * 5, 0.3: [1e-13, 3e-14, 2e-13, 1e-13, 5e-14], 1.0: [1.0] * 5},
                     {0.1: [1.0] * 5, 0.3: [1e-12, 5e-13, 1e-12, 2e-13, 1e-14], 1.0: [1.0] * 5})
    group, head, _ = verdict_of(final)
    assert (group.verdict, group.cause, group.measured) == ("inconclusive", "tied", 1.0)
    assert head.verdict == "inconclusive" and head.cause == "tied"


def test_a_best_lr_at_the_grid_edge_makes_a_loss_inconclusive():
    final = lr_frame({0.1: [2.0, 2.1, 2.2, 2.0, 2.1], 0.3: [1.0, 1.05, 1.1, 1.0, 1.05]},  # still improving at the edge
                     {0.1: [1.0] * 5, 0.3: [0.2, 0.21, 0.22, 0.2, 0.21], 1.0: [1.0] * 5})
    group, head, _ = verdict_of(final)
    assert (group.verdict, group.cause) == ("inconclusive", "grid edge") and head.cause == "grid edge"
