"""The claim-check layer on synthetic data with known answers, each verdict and each
inconclusive case (toylab/checks.py)."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from toylab import checks

CHECK = checks.Check("C1", "C1-test", "x", "mean of the window", "p", tolerance=0.05)


def draws(mean, sd, n, seed=0):
    return np.random.default_rng(seed).normal(mean, sd, n)


def test_t_interval_matches_scipy():
    v = draws(1.0, 0.3, 7)
    mean, low, high = checks.t_interval(v, 0.9)
    ref = stats.t.interval(0.9, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert mean == pytest.approx(v.mean(), rel=1e-15)
    assert (low, high) == pytest.approx(ref, rel=1e-12)


def test_t_interval_covers_at_its_level():
    """Coverage of the true mean over many draws of 5 replicates is the nominal 95 %."""
    rng = np.random.default_rng(1)
    hits = [lo <= 2.0 <= hi for lo, hi in (checks.t_interval(rng.normal(2.0, 1.0, 5))[1:] for _ in range(4000))]
    assert abs(np.mean(hits) - 0.95) < 0.015


@pytest.mark.parametrize("mean,sd,verdict", [
    (1.00, 0.002, "holds"),  # error 0, interval narrow
    (1.20, 0.002, "fails"),  # error +20 %, interval narrow
    (0.80, 0.002, "fails"),  # error −20 %
    (1.05, 0.002, "inconclusive"),  # interval straddles +5 %
    (1.00, 0.200, "inconclusive"),  # interval too wide for the tolerance
])
def test_relative_verdicts(mean, sd, verdict):
    out = checks.relative(CHECK, draws(mean, sd, 8), predicted=1.0)
    assert out.verdict == verdict
    assert out.ci_low < out.measured < out.ci_high
    assert out.rel_error == pytest.approx(out.measured - 1.0)


def test_relative_with_negative_prediction_keeps_interval_order():
    out = checks.relative(CHECK, draws(-2.0, 0.001, 6), predicted=-2.0)
    assert out.verdict == "holds"


def test_one_replicate_is_inconclusive():
    out = checks.relative(CHECK, [1.0], predicted=1.0)
    assert out.verdict == "inconclusive" and "no interval" in out.reason
    assert math.isnan(out.ci_low)


def test_regime_not_reached_is_inconclusive_and_says_why():
    regime = checks.Regime(False, "drift +9 % not within ±2.5 %")
    out = checks.relative(CHECK, draws(1.0, 0.001, 8), 1.0, regime=regime)
    assert out.verdict == "inconclusive" and "regime not reached" in out.reason and "would be holds" in out.reason


def test_stationarity_detects_drift_and_steady_state():
    steps = np.arange(0, 1001, 10)
    rows = []
    for seed in range(6):
        noise = np.random.default_rng(seed).normal(0, 0.01, len(steps))
        rows += [{"seed": seed, "step": s, "value": 1 + n, "drifting": 1 + s / 1000 + n}
                 for s, n in zip(steps, noise)]
    frame = pd.DataFrame(rows)
    assert checks.stationarity(frame, 500, 1000, 0.025).reached
    drifting = checks.stationarity(frame, 500, 1000, 0.025, value="drifting")
    assert not drifting.reached and "drift" in drifting.test


def test_window_mean_per_seed():
    frame = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "step": [1, 2, 3] * 2, "value": [1, 2, 3, 4, 5, 6.0]})
    assert checks.window(frame, 2, 3).tolist() == [2.5, 5.5]


def test_bound():
    check = checks.Check("C10", "C10-test", "deviation", "max over steps", "rounding", tolerance=1e-12)
    assert checks.bound(check, [1e-16, 2e-16, 1.5e-16]).verdict == "holds"
    assert checks.bound(check, [0.5, 0.6, 0.55]).verdict == "fails"
    assert checks.bound(check, [0.0, 0.0, 0.0]).verdict == "holds"  # identical replicates: exact


@pytest.mark.parametrize("ratio,sd,verdict", [
    (0.5, 0.01, "holds"),  # a clearly below b
    (2.0, 0.01, "fails"),  # reversed
    (1.0, 0.01, "fails"),  # equal within the margin: "a < b" by the margin is refuted
    (0.99, 0.3, "inconclusive"),  # tied within noise
])
def test_ordering(ratio, sd, verdict):
    check = checks.Check("C11", "C11-test", "loss ratio", "final loss", "a < b", tolerance=0.05)
    b = np.exp(draws(0.0, 0.5, 6, seed=3))
    a = b * ratio * np.exp(draws(0.0, sd, 6, seed=4))
    out = checks.ordering(check, a, b)
    assert out.verdict == verdict
    assert out.measured == pytest.approx(np.exp(np.mean(np.log(a / b))))


def grid_frame(values_by_x: dict, seeds=6, sd=0.01):
    rows = []
    for x, v in values_by_x.items():
        for s in range(seeds):
            rows.append({"tau": x, "seed": s, "value": v * math.exp(np.random.default_rng(100 * s + int(x)).normal(0, sd))})
    return pd.DataFrame(rows)


GRID = checks.Check("C9", "C9-test", "best τ", "final loss", "1 ≤ τ ≤ 8", tolerance=0.0)


def test_grid_best_holds_inside_range():
    out = checks.grid_best(GRID, grid_frame({1: 2.0, 2: 1.5, 4: 1.0, 8: 1.5, 16: 2.0}), "tau", (2, 8))
    assert out.verdict == "holds" and out.measured == 4 and (out.ci_low, out.ci_high) == (4, 4)


def test_grid_best_fails_outside_range():
    out = checks.grid_best(GRID, grid_frame({1: 2.0, 2: 1.5, 4: 1.0, 8: 1.5, 16: 2.0}), "tau", (8, 16))
    assert out.verdict == "fails"


def test_grid_best_at_edge_is_inconclusive():
    out = checks.grid_best(GRID, grid_frame({1: 3.0, 2: 2.0, 4: 1.5, 8: 1.2, 16: 1.0}), "tau", (1, 16))
    assert out.verdict == "inconclusive" and "edge" in out.reason


def test_grid_best_tie_straddling_the_range_is_inconclusive():
    out = checks.grid_best(GRID, grid_frame({1: 2.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 2.0}, sd=0.05), "tau", (1, 3))
    assert out.verdict == "inconclusive" and out.ci_high > 3


def test_grid_best_never_picks_a_diverged_point():
    frame = grid_frame({1: 2.0, 2: 1.5, 4: 1.0, 8: 1.5, 16: 2.0})
    frame.loc[(frame.tau == 4) & (frame.seed == 0), "value"] = np.inf
    out = checks.grid_best(GRID, frame, "tau", (1, 16))
    assert out.measured in (2, 8)


def test_combine_and_ledger_rows():
    outs = [checks.relative(CHECK, draws(m, 0.001, 5), 1.0, group=f"g={m}") for m in (1.0, 1.01)]
    head = checks.combine(CHECK, outs)
    assert head.verdict == "holds" and head.group == "" and head.check_id == "C1-test"
    outs.append(checks.relative(CHECK, draws(1.3, 0.001, 5), 1.0, group="g=1.3"))
    head = checks.combine(CHECK, outs)
    assert head.verdict == "fails" and head.measured == pytest.approx(1.3, abs=0.01)
    table = checks.ledger([head, *outs], "some_report")
    assert list(table.columns) == list(checks.LEDGER_COLUMNS)
    assert table["check"].tolist() == ["C1-test", "C1-test/g=1.0", "C1-test/g=1.01", "C1-test/g=1.3"]
    assert set(table["verdict"]) <= set(checks.VERDICTS)


def test_sentence_states_estimator_seeds_interval_and_tolerance():
    text = checks.relative(CHECK, draws(1.0, 0.001, 8), 1.0).sentence()
    assert "mean of the window" in text and "8 seeds" in text and "95 % interval" in text and "±5 %" in text


def test_write_ledger_gathers_reports_in_claim_order(tmp_path):
    from toylab import report
    for name, claim in (("b_report", "C10"), ("a_report", "C2")):
        (tmp_path / name).mkdir()
        out = checks.relative(checks.Check(claim, f"{claim}-x", "x", "e", "p", 0.05), draws(1.0, 0.001, 4), 1.0)
        checks.ledger([out], name).to_csv(tmp_path / name / "checks.csv", index=False)
    ledger = pd.read_csv(report.write_ledger(tmp_path))
    assert ledger["check"].tolist() == ["C2-x", "C10-x"]
    assert ledger["report"].tolist() == ["a_report", "b_report"]
    assert list(ledger.columns) == list(checks.LEDGER_COLUMNS)
