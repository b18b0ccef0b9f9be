"""The claim-check layer on synthetic data with known answers, each verdict and each
inconclusive case (toylab/checks.py)."""
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from toylab import checks

CHECK = checks.Check("C1", "C1-test", "x", "mean of the window", "p", tolerance=0.05, kind="seed")


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
    out = checks.equivalence(CHECK, draws(mean, sd, 8), predicted=1.0)
    assert out.verdict == verdict
    assert out.ci_low < out.measured < out.ci_high
    assert out.rel_error == pytest.approx(out.measured - 1.0)


def test_relative_with_negative_prediction_keeps_interval_order():
    out = checks.equivalence(CHECK, draws(-2.0, 0.001, 6), predicted=-2.0)
    assert out.verdict == "holds"


def test_absolute_equivalence_compares_differences():
    out = checks.equivalence(CHECK, draws(0.02, 0.001, 8), 0.0, relative=False)
    assert out.verdict == "holds" and out.rel_error == pytest.approx(out.measured)
    assert checks.equivalence(CHECK, draws(0.2, 0.001, 8), 0.0, relative=False).verdict == "fails"


def test_each_verdict_states_its_cause_as_data():
    straddles = checks.equivalence(CHECK, draws(1.05, 0.002, 8), 1.0)
    assert straddles.verdict == "inconclusive" and straddles.cause == "straddles"
    assert checks.equivalence(CHECK, draws(1.0, 0.002, 8), 1.0).cause == ""
    assert checks.equivalence(CHECK, draws(1.2, 0.002, 8), 1.0).cause == ""


def test_one_replicate_is_inconclusive():
    out = checks.equivalence(CHECK, [1.0], predicted=1.0)
    assert out.verdict == "inconclusive" and out.cause == "few replicates"
    assert math.isnan(out.ci_low)


def test_an_interval_wider_than_the_check_needs_asks_for_replicates():
    wide = checks.equivalence(CHECK, draws(1.0, 0.2, 8), 1.0)
    assert wide.verdict == "inconclusive" and wide.cause == "straddles"
    needy = replace(CHECK, needs=checks.Needs(width=1.0))
    out = checks.equivalence(needy, draws(1.0, 0.2, 8), 1.0)
    assert out.verdict == "inconclusive" and out.cause == "few replicates"
    assert checks.equivalence(needy, draws(1.05, 0.002, 8), 1.0).cause == "straddles", "narrow: a true straddle"


def test_regime_not_reached_is_inconclusive_and_says_why():
    regime = checks.Regime(False, "drift +9 % not within ±2.5 %")
    out = checks.equivalence(CHECK, draws(1.0, 0.001, 8), 1.0, regime=regime)
    assert out.verdict == "inconclusive" and out.cause == "regime not reached" and "would be holds" in out.reason


def test_relaxation_times_and_regimes_combine():
    check = replace(CHECK, needs=checks.Needs(relaxation_times=5))
    assert checks.relaxed(check, 5000, 1000).reached and not checks.relaxed(check, 4000, 1000).reached
    both = checks.relaxed(check, 6000, 1000) & checks.Regime(False, "edge", "grid edge")
    assert not both.reached and both.cause == "grid edge" and "6 relaxation times" in both.test


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


@pytest.mark.parametrize("trend,cause", [(0.0, "few replicates"), (0.04, "regime not reached")])
def test_stationarity_cause_follows_the_mean_drift(trend, cause):
    """Three noisy seeds whose drift interval straddles ±2.5 % and is wider than the band: with no
    trend (mean drift inside the band) more seeds can tell; with a 4 % trend between the halves
    (mean outside) the runs still drift, and longer runs are what is missing."""
    steps = np.arange(0, 1001, 10)
    rows = []
    for seed, level in enumerate([0.97, 1.0, 1.03]):  # each seed's own offset in its second half
        for s in steps:
            rows.append({"seed": seed, "step": s,
                         "value": 1.0 if s <= 750 else level + trend + 0.02 * (seed - 1) ** 2})
    regime = checks.stationarity(pd.DataFrame(rows), 500, 1000, 0.025)
    assert not regime.reached and regime.cause == cause, regime.test


def test_bound():
    check = checks.Check("C10", "C10-test", "deviation", "max over steps", "rounding", tolerance=1e-12, kind="control")
    assert checks.bound(check, [1e-16, 2e-16, 1.5e-16]).verdict == "holds"
    assert checks.bound(check, [0.5, 0.6, 0.55]).verdict == "fails"
    assert checks.bound(check, [0.0, 0.0, 0.0]).verdict == "holds"  # identical replicates: exact


@pytest.mark.parametrize("ratio,sd,verdict,cause", [
    (0.5, 0.01, "holds", ""),  # a clearly below b, past the margin
    (2.0, 0.01, "fails", ""),  # reversed: b beats a by more than the margin
    (1.0, 0.01, "inconclusive", "tied"),  # equal within the margin: a tie, not a failure
    (0.97, 0.01, "inconclusive", "tied"),  # a ahead, but by less than the margin
    (0.99, 0.3, "inconclusive", "few replicates"),  # the interval crosses the margin: more seeds could decide
])
def test_ordering(ratio, sd, verdict, cause):
    check = checks.Check("C11", "C11-test", "loss ratio", "final loss", "a < b", tolerance=0.05, kind="hypothesis")
    b = np.exp(draws(0.0, 0.5, 6, seed=3))
    a = b * ratio * np.exp(draws(0.0, sd, 6, seed=4))
    out = checks.ordering(check, a, b)
    assert (out.verdict, out.cause) == (verdict, cause)
    assert out.measured == pytest.approx(np.exp(np.mean(np.log(a / b))))


def test_a_tie_is_final_inside_the_margin_band_and_asks_for_seeds_when_it_crosses_it():
    """Hand-made log ratios r_s with the t-interval r̄ ± t_{0.975,3}·s/√4 (scipy reference) against
    m = 0.1: inside [−m, m] a tie; crossing +m (narrow or wide) few replicates; past m it fails."""
    check = checks.Check("C13", "C13-test", "ratio", "final value", "a < b", tolerance=0.1, kind="hypothesis")
    for r, cause in [([0.02, -0.03, 0.01, 0.0], "tied"), ([0.08, 0.1, 0.09, 0.11], "few replicates"),
                     ([0.5, -0.3, 0.2, -0.1], "few replicates"), ([-0.02, 0.02, -0.02, 0.02], "tied")]:
        r = np.array(r)
        low, high = stats.t.interval(0.95, 3, loc=r.mean(), scale=stats.sem(r))
        assert (cause == "tied") == (-0.1 <= low and high <= 0.1)  # the case is what its label says
        out = checks.ordering(check, np.exp(r), np.ones(4))
        assert (out.verdict, out.cause) == ("inconclusive", cause)
        assert (math.log(out.ci_low), math.log(out.ci_high)) == pytest.approx((low, high), rel=1e-10)
    past = checks.ordering(check, np.exp([0.3, 0.35, 0.32, 0.33]), np.ones(4))
    assert (past.verdict, past.cause) == ("fails", "")
    noisy_zero = checks.ordering(replace(check, tolerance=0.0), np.exp([0.01, -0.01, 0.02, 0.0]), np.ones(4))
    assert noisy_zero.cause == "few replicates"  # m = 0: only identical values are a tie


def test_identical_values_are_tied_even_without_a_margin():
    check = checks.Check("C11", "C11-test", "loss ratio", "final loss", "a < b", tolerance=0.0, kind="hypothesis")
    out = checks.ordering(check, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (out.verdict, out.cause) == ("inconclusive", "tied")


def grid_frame(values_by_x: dict, seeds=6, sd=0.01):
    rows = []
    for x, v in values_by_x.items():
        for s in range(seeds):
            rows.append({"tau": x, "seed": s, "value": v * math.exp(np.random.default_rng(100 * s + int(x)).normal(0, sd))})
    return pd.DataFrame(rows)


GRID = checks.Check("C9", "C9-test", "best τ", "final loss", "1 ≤ τ ≤ 8", tolerance=0.0, kind="seed")
BOWL = {1: 2.0, 2: 1.5, 4: 1.0, 8: 1.5, 16: 2.0}


def test_best_points_per_group_with_edge_and_ties():
    frame = pd.concat([grid_frame(BOWL).assign(g="bowl"),
                       grid_frame({1: 3.0, 2: 2.0, 4: 1.5, 8: 1.2, 16: 1.0}).assign(g="slope"),
                       grid_frame({1: 2.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 2.0}, sd=0.05).assign(g="flat")])
    best = checks.best_points(frame, "tau", ["g"]).set_index("g")
    assert best.loc["bowl", "best"] == 4 and not best.loc["bowl", "at_edge"] and best.loc["bowl", "tied"] == (4,)
    assert best.loc["slope", "best"] == 16 and best.loc["slope", "at_edge"]
    assert set(best.loc["flat", "tied"]) == {2, 4, 8} and (best.loc["flat", "low"], best.loc["flat", "high"]) == (2, 8)
    assert best.loc["bowl", "n"] == 6 and best.loc["bowl", "grid"] == (1, 2, 4, 8, 16)
    bowl = frame[(frame["g"] == "bowl") & (frame["tau"] == 4)]["value"]
    assert best.loc["bowl", "value"] == pytest.approx(np.exp(np.log(bowl).mean()), rel=1e-12)  # geometric mean


def test_best_points_compare_log_values_when_positive_and_raw_values_otherwise():
    # seed-mean of log: lr 1 (values 1, 1) beats lr 2 (values 0.1, 3: arithmetic mean 1.55, geometric 0.55)
    frame = pd.DataFrame({"lr": [1, 1, 2, 2, 3, 3], "seed": [0, 1] * 3, "value": [1.0, 1.0, 0.1, 3.0, 5.0, 5.0]})
    assert checks.best_points(frame, "lr")["best"].item() == 2
    shifted = frame.assign(value=frame["value"] - 1.0)  # some values ≤ 0: the arithmetic mean decides
    assert checks.best_points(shifted, "lr")["best"].item() == 1


def test_best_points_never_pick_a_diverged_point_and_say_when_all_diverged():
    frame = grid_frame(BOWL)
    frame.loc[(frame.tau == 4) & (frame.seed == 0), "value"] = np.inf
    assert checks.best_points(frame, "tau")["best"].item() in (2, 8)
    gone = checks.best_points(frame.assign(value=np.inf), "tau")
    assert math.isnan(gone["best"].item()) and not gone["at_edge"].item() and gone["tied"].item() == ()


def test_grid_best_holds_inside_range():
    (out,) = checks.best_on_grid(GRID, grid_frame(BOWL), "tau", (2, 8))
    assert out.verdict == "holds" and out.measured == 4 and (out.ci_low, out.ci_high) == (4, 4)


def test_grid_best_fails_outside_range():
    (out,) = checks.best_on_grid(GRID, grid_frame(BOWL), "tau", (8, 16))
    assert out.verdict == "fails"


def test_grid_best_at_edge_is_inconclusive():
    (out,) = checks.best_on_grid(GRID, grid_frame({1: 3.0, 2: 2.0, 4: 1.5, 8: 1.2, 16: 1.0}), "tau", (1, 16))
    assert out.verdict == "inconclusive" and out.cause == "grid edge"
    (free,) = checks.best_on_grid(replace(GRID, needs=checks.Needs(interior=False)),
                                  grid_frame({1: 3.0, 2: 2.0, 4: 1.5, 8: 1.2, 16: 1.0}), "tau", (1, 16))
    assert free.verdict == "holds", "a check that does not need an interior best accepts one at the edge"


def test_grid_best_tie_straddling_the_range_is_inconclusive():
    (out,) = checks.best_on_grid(GRID, grid_frame({1: 2.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 2.0}, sd=0.05), "tau", (1, 3))
    assert out.verdict == "inconclusive" and out.cause == "tied" and out.ci_high > 3


def test_interior_names_the_values_at_an_edge():
    best = pd.DataFrame({"at_edge": [False, True]}, index=["adam", "muon"])
    assert checks.interior(best, ["adam"]).reached
    edge = checks.interior(best, ["adam", "muon"])
    assert not edge.reached and edge.cause == "grid edge" and "muon" in edge.test


def metric_rows(values_by_run: dict, diverged=()):
    return pd.DataFrame([{"run": r, "metric": "loss", "step": 10 * i, "value": v, "lr": 0.1, "seed": 0,
                          "diverged": r in diverged} for r, vs in values_by_run.items() for i, v in enumerate(vs)])


def test_final_values_last_step_window_and_best():
    rows = metric_rows({"a": np.arange(11.0)[::-1] + 1, "b": np.ones(11)})
    last = checks.final_values(rows, "loss").set_index("run")
    assert last.loc["a", "value"] == 1.0 and not last["diverged"].any() and "metric" not in last
    window = checks.final_values(rows, "loss", last=0.1).set_index("run")["value"]
    assert window["a"] == pytest.approx((2 + 1) / 2)  # steps 90 and 100
    assert checks.final_values(rows, "loss", best=True).set_index("run").loc["a", "value"] == 1.0


@pytest.mark.parametrize("values,engine_flag", [
    ([1.0, 0.5, np.nan], False),  # not finite
    ([1.0, 2.0, 1001.0], False),  # blew up past EXPLODE × the first value without overflowing
    ([1.0, 0.5, 0.4], True),  # the engine marked it diverged
])
def test_one_rule_for_a_diverged_run(values, engine_flag):
    rows = metric_rows({"bad": values, "good": [1.0, 0.5, 999.0]}, diverged={"bad"} if engine_flag else set())
    out = checks.final_values(rows, "loss").set_index("run")
    assert out.loc["bad", "diverged"] and out.loc["bad", "value"] == np.inf
    assert not out.loc["good", "diverged"] and out.loc["good", "value"] == 999.0


def outcome(verdict, group, measured=1.0, clearance=0.1):
    return checks.Outcome(CHECK, group, 1.0, measured, measured - 0.01, measured + 0.01, measured - 1.0, verdict,
                          f"reason of {group}", 4, "tied" if verdict == "inconclusive" else "", clearance)


@pytest.mark.parametrize("rule,verdicts,verdict,quoted", [
    ("all", ["holds", "holds", "holds"], "holds", "b"),  # every group needed: the weakest (clearance 0.05)
    ("all", ["holds", "fails", "inconclusive"], "fails", "b"),  # one failure decides
    ("all", ["holds", "inconclusive", "holds"], "inconclusive", "b"),
    ("any", ["inconclusive", "holds", "fails"], "holds", "b"),  # one holding group decides
    ("any", ["fails", "fails", "fails"], "fails", "b"),  # every group needed to fail: the weakest failure
    ("any", ["fails", "inconclusive", "fails"], "inconclusive", "b"),
    (2, ["holds", "fails", "holds"], "holds", "c"),  # the 2nd strongest of the holding groups
    (2, ["holds", "fails", "fails"], "fails", "b"),  # both failures needed: the weaker one
    (2, ["holds", "fails", "inconclusive"], "inconclusive", "c"),
])
def test_combine_rules_quote_the_deciding_group(rule, verdicts, verdict, quoted):
    check = replace(CHECK, combine=rule)
    clearance = {"a": 0.3, "b": 0.05, "c": 0.2}
    groups = [outcome(v, g, measured=1.0 + i, clearance=clearance[g]) for i, (v, g) in enumerate(zip(verdicts, "abc"))]
    head = checks.combine(check, groups)
    decider = next(o for o in groups if o.group == quoted)
    assert head.verdict == verdict and head.decided_by == quoted and head.group == ""
    assert (head.measured, head.ci_low, head.ci_high) == (decider.measured, decider.ci_low, decider.ci_high)
    assert head.reason.startswith(f"{verdict} in {verdicts.count(verdict)} of 3 groups") and decider.reason in head.reason
    assert head.cause == ("tied" if verdict == "inconclusive" else "")


def test_a_headline_never_quotes_a_group_that_contradicts_it():
    """C14-nested-ema on the old rule: 'fails' with the numbers of the group with the largest error;
    with `any`, the group that wins decides, and the pattern says where."""
    check = replace(CHECK, combine="any")
    groups = [outcome("inconclusive", "β1=0.9", 0.98), outcome("holds", "β1=0.99", 0.25, 0.8),
              outcome("inconclusive", "β1=0.95", 1.01)]
    head = checks.combine(check, groups)
    assert head.verdict == "holds" and head.measured == 0.25 and head.reason.startswith("holds in 1 of 3 groups: β1=0.99")


def test_combine_rule_is_checked():
    with pytest.raises(ValueError, match="combine"):
        replace(CHECK, combine="most")
    with pytest.raises(ValueError, match="needs 4 groups"):
        checks.combine(replace(CHECK, combine=4), [outcome("holds", g) for g in "abc"])


def test_combine_and_ledger_rows():
    outs = [checks.equivalence(CHECK, draws(m, 0.001, 5), 1.0, group=f"g={m}") for m in (1.0, 1.01)]
    head = checks.combine(CHECK, outs)
    assert head.verdict == "holds" and head.group == "" and head.check_id == "C1-test"
    outs.append(checks.equivalence(CHECK, draws(1.3, 0.001, 5), 1.0, group="g=1.3"))
    head = checks.combine(CHECK, outs)
    assert head.verdict == "fails" and head.measured == pytest.approx(1.3, abs=0.01) and head.decided_by == "g=1.3"
    table = checks.ledger(checks.headline(CHECK, outs), "some_report")
    assert list(table.columns) == list(checks.LEDGER_COLUMNS)
    assert table["check"].tolist() == ["C1-test", "C1-test/g=1.0", "C1-test/g=1.01", "C1-test/g=1.3"]
    assert set(table["verdict"]) <= set(checks.VERDICTS) and set(table["cause"]) <= {"", *checks.CAUSES}

def test_sentence_states_estimator_seeds_interval_and_tolerance():
    text = checks.equivalence(CHECK, draws(1.0, 0.001, 8), 1.0).sentence()
    assert "mean of the window" in text and "8 seeds" in text and "95 % interval" in text and "±5 %" in text
    assert "(straddles)" in checks.equivalence(CHECK, draws(1.05, 0.002, 8), 1.0).sentence()


def test_write_ledger_gathers_reports_in_claim_order(tmp_path):
    from toylab import report
    for name, claim in (("b_report", "C10"), ("a_report", "C2")):
        (tmp_path / name).mkdir()
        out = checks.equivalence(checks.Check(claim, f"{claim}-x", "x", "e", "p", 0.05, kind="seed"), draws(1.0, 0.001, 4), 1.0)
        checks.ledger([out], name).to_csv(tmp_path / name / "checks.csv", index=False)
    ledger = pd.read_csv(report.write_ledger(tmp_path))
    assert ledger["check"].tolist() == ["C2-x", "C10-x"]
    assert ledger["report"].tolist() == ["a_report", "b_report"]
    assert list(ledger.columns) == list(checks.LEDGER_COLUMNS)


def test_a_check_says_whose_claim_it_is():
    """Every ledger row carries a kind; a check without one (or with another word) is refused."""
    assert checks.ledger([checks.equivalence(CHECK, [1.0, 1.01, 0.99], 1.0)], "r")["kind"].tolist() == ["seed"]
    for kind in ("", "theory"):
        with pytest.raises(ValueError, match="kind="):
            checks.Check("C1", "C1-x", "x", "e", "p", 0.05, kind=kind)


def test_ordering_of_zero_values_is_clean_and_both_zero_is_a_tie():
    check = checks.Check("C14", "C14-test", "gap ratio", "gap", "a < b", tolerance=0.05, kind="seed")
    with np.errstate(all="raise"):  # no divide-by-zero or invalid warning from log(0) or 0/0
        tie = checks.ordering(check, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
        mixed = checks.ordering(check, [0.0, 1.0, 2.0, 4.0], [0.0, 2.0, 4.1, 8.0])
        one_zero = checks.ordering(check, [0.0, 1.0, 2.0], [1.0, 2.0, 4.0])
    assert (tie.verdict, tie.cause, tie.measured, tie.n) == ("inconclusive", "tied", 1.0, 3)
    assert mixed.n == 4 and mixed.measured == pytest.approx(np.exp(np.mean([0.0, np.log(0.5), np.log(2 / 4.1), np.log(0.5)])))
    assert one_zero.n == 2 and one_zero.measured == pytest.approx(0.5)  # a zero against a non-zero: no replicate


def test_tuned_takes_each_seed_at_the_best_lr_then_the_best_outer_value_and_names_an_edge():
    # loss = (log2 lr − c)² + outer·(1 + 0.01·seed): the best lr is 2^c per outer value, the best outer is the smallest
    rows = [{"lr": lr, "eps_max": e, "seed": s, "value": (np.log2(lr) - c) ** 2 + e * (1 + 0.01 * s)}
            for lr in (1.0, 2.0, 4.0, 8.0) for e, c in ((1.0, 1.0), (10.0, 2.0)) for s in range(3)]
    frame = pd.DataFrame(rows)
    values, regime, chosen = checks.tuned(frame, outer="eps_max")
    assert chosen == "lr = 2, eps_max = 1" and values.tolist() == pytest.approx([1.0, 1.01, 1.02])
    assert not regime.reached and regime.cause == "grid edge" and "eps_max = 1" in regime.test
    inside, regime, chosen = checks.tuned(frame[frame["eps_max"] == 10.0])
    assert chosen == "lr = 4" and regime.reached and inside.tolist() == pytest.approx([10.0, 10.1, 10.2])


def test_ranking_orders_each_adjacent_pair_with_its_regime():
    """Three names 10 % apart, paired over seeds: each adjacent pair holds against the log-ratio of
    the two columns; an edge best makes only the pairs that involve it inconclusive (`grid edge`)."""
    check = checks.Check("C11", "C11-test", "loss ratio", "final loss", "a < b < c", tolerance=0.0, kind="seed")
    base = np.exp(draws(0.0, 0.5, 6, seed=5))
    wide = pd.DataFrame({"a": base, "b": base * 1.1 * np.exp(draws(0.0, 0.01, 6, seed=6)), "c": base * 1.21})
    best = pd.DataFrame({"at_edge": [False, False, True]}, index=["a", "b", "c"])
    out = checks.ranking(check, wide, ["a", "b", "c"], "panel", best)
    assert [o.group for o in out] == ["panel: a < b", "panel: b < c"]
    assert out[0].verdict == "holds" and out[0].measured == pytest.approx(np.exp(np.log(wide["a"] / wide["b"]).mean()))
    assert (out[1].verdict, out[1].cause) == ("inconclusive", "grid edge")
    assert [o.verdict for o in checks.ranking(check, wide, ["c", "b", "a"], "panel")] == ["fails", "fails"]


def test_settled_needs_relaxation_and_no_drift_unless_told_not_to_test_drift():
    steps = np.arange(0, 1001, 10)
    frame = pd.DataFrame([{"seed": seed, "step": s, "value": 1 + n, "drifting": 1 + s / 1000 + n}
                          for seed in range(6) for s, n in zip(steps, np.random.default_rng(seed).normal(0, 0.01, 101))])
    check = checks.Check("C5", "C5-test", "ratio", "window mean", "1", tolerance=0.05, kind="seed",
                         needs=checks.Needs(relaxation_times=3, drift=0.5))  # drift band ±2.5 %
    assert checks.settled(check, frame, 500, 1000, timescale=100).reached  # 5 timescales in, steady
    early = checks.settled(check, frame, 500, 1000, timescale=250)  # 2 timescales in
    assert not early.reached and early.cause == "regime not reached" and "2 relaxation times" in early.test
    drifting = checks.settled(check, frame, 500, 1000, timescale=100, value="drifting")  # +33 % between halves
    assert not drifting.reached and "drift between halves" in drifting.test
    assert checks.settled(check, frame, 500, 1000, timescale=100, value="drifting", stationary=False).reached


def test_numbers_quote_measured_interval_and_prediction_or_verdict():
    check = checks.Check("C5", "C5-test", "ratio", "window mean", "2", tolerance=0.05, kind="seed")
    out = checks.equivalence(check, [2.0, 2.02, 1.98, 2.01], 2.0, group="g")
    low, high = stats.t.interval(0.95, 3, loc=2.0025, scale=stats.sem([2.0, 2.02, 1.98, 2.01]))
    assert checks.numbers([out]) == {"C5-test/g": f"2.002 [{low:.4g}, {high:.4g}] vs 2"}
    assert checks.numbers([out], "verdict")["C5-test/g"].endswith("(holds)")
    with pytest.raises(ValueError, match="versus='x' is not allowed"):
        checks.numbers([out], "x")


def test_orderings_and_equivalences_decide_each_group_as_the_single_claim_does():
    frame = pd.DataFrame({"setting": ["a"] * 4 + ["b"] * 4, "seed": list(range(4)) * 2,
                          "new": [1.0, 1.1, 0.9, 1.0, 5.0, 5.2, 4.9, 5.1],
                          "old": [2.0, 2.1, 1.9, 2.2, 5.0, 5.1, 5.0, 5.0]})
    check = checks.Check("C1", "C1-x", "ratio", "per seed", "new < old", 0.1, kind="hypothesis")
    got = checks.orderings(check, frame.set_index(["setting", "seed"]), "new", "old", ["setting"])
    assert [o.group for o in got] == ["a", "b"] and [o.verdict for o in got] == ["holds", "inconclusive"]
    assert got[0].measured == pytest.approx(stats.gmean(frame["new"][:4] / frame["old"][:4]))
    both = checks.equivalences(CHECK, frame.assign(k=1), "new", 1.0, ["setting", "k"])
    assert [o.group for o in both] == ["a 1", "b 1"] and [o.verdict for o in both] == ["inconclusive", "fails"]
    assert both[0].measured == pytest.approx(1.0) and both[1].measured == pytest.approx(5.05)


def test_final_values_per_takes_each_problems_own_metric():
    metrics = pd.DataFrame([{"run": f"{p}{m}", "problem": p, "metric": m, "step": s, "value": v, "diverged": False}
                            for p in ("lin", "mlp") for m in ("loss", "excess_loss")
                            for s, v in ((0, 9.0), (1, len(p + m)))])
    got = checks.final_values_per(metrics, {"mlp": "loss", "lin": "excess_loss", "absent": "loss"})
    assert got["problem"].tolist() == ["mlp", "lin"] and got["value"].tolist() == [7.0, 14.0]


def test_orderings_at_best_compare_each_groups_two_names_at_their_own_best_lr():
    # value = (log10 lr − c)² + level·(1 + 0.01·seed): each name's best lr is 10^c; "new" is 0.5× "old" in group x only
    rows = [{"group": g, "name": n, "lr": lr, "seed": s,
             "value": (np.log10(lr) - c) ** 2 + level * (1 + 0.01 * s)}
            for g, half in (("x", 0.5), ("y", 1.0)) for n, c, level in (("new", -1, half), ("old", -2, 1.0))
            for lr in (1e-3, 1e-2, 1e-1, 1.0) for s in range(3)]
    check = checks.Check("C1", "C1-x", "ratio", "per seed at the best lr", "new < old", 0.1, kind="hypothesis")
    got = checks.orderings_at_best(check, pd.DataFrame(rows), "new", "old", "group")
    assert [o.group for o in got] == ["x", "y"] and [o.verdict for o in got] == ["holds", "inconclusive"]
    assert got[0].measured == pytest.approx(0.5) and got[1].measured == pytest.approx(1.0)


def test_ordering_pairs_two_series_by_their_replicates():
    """The same seeds in another order give the same paired interval; shuffling the pairing
    (positions) would change it, since the seeds' values differ far more than their ratios."""
    check = checks.Check("C11", "C11-test", "loss ratio", "final loss", "a < b", tolerance=0.05, kind="hypothesis")
    b = pd.Series([1.0, 10.0, 100.0, 1000.0], index=[0, 1, 2, 3])
    a = b * [0.5, 0.52, 0.49, 0.51]
    paired = checks.ordering(check, a, b)
    shuffled = checks.ordering(check, a.iloc[[2, 0, 3, 1]], b)
    assert (shuffled.ci_low, shuffled.ci_high) == (paired.ci_low, paired.ci_high) and paired.verdict == "holds"
    by_position = checks.ordering(check, a.to_numpy()[[2, 0, 3, 1]], b.to_numpy())
    assert by_position.ci_high - by_position.ci_low > 10 * (paired.ci_high - paired.ci_low)
