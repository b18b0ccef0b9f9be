"""`toylab compare`: its statistics against brute-force and hand-computed references, the
held-out-seed rule, the censoring rule, and the command end to end (toylab/compare/)."""
import dataclasses
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats as scipy_stats

from toylab import checks, store
from toylab.cli import main
from toylab.compare import protocol, stats, sweep
from toylab.config import RunConfig
from toylab.experiments import run_configs
from toylab.grids import grid
from toylab.options import format_value

INF = math.inf
SMALL = ["-p", "d=4", "-p", "D=2", "--steps", "40", "--metric-every", "5"]


def brute_force_steps(steps, values, target):
    """The first step whose value is ≤ target, by a plain loop; ∞ when none."""
    for t, v in zip(steps, values):
        if v <= target:
            return t
    return INF


# ----- steps to target --------------------------------------------------------------------------
def test_steps_to_target_matches_a_brute_force_loop():
    steps = np.arange(0, 60, 5)
    history = np.array([9.0, 7.0, 5.0, 5.5, 3.0, 3.0, 2.0, 2.5, 1.0, np.nan, np.nan, np.nan])  # diverges at 45
    for target in [10.0, 9.0, 5.0, 4.0, 3.0, 1.0, 0.5]:  # at step 0, exactly on a value, between, never
        assert stats.steps_to_target(steps, history, target) == brute_force_steps(steps, history, target)
    rng = np.random.default_rng(0)
    for _ in range(200):
        values = np.exp(np.cumsum(rng.normal(-0.1, 0.5, 30)))
        values[rng.integers(10, 40):] = np.nan  # a divergence (or none when the index is past the end)
        target = float(np.exp(rng.normal(-1, 1)))
        assert stats.steps_to_target(np.arange(30) * 10, values, target) == \
            brute_force_steps(np.arange(30) * 10, values, target)


# ----- the paired ratio and its censoring rule -----------------------------------------------------
def reference_interval(d, level):
    d = np.asarray(d, dtype=float)
    return scipy_stats.t.interval(level, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))


def test_paired_ratio_is_the_t_interval_of_the_capped_log_ratios():
    a = np.array([10.0, 20, 15, 30, 25, INF])
    b = np.array([40.0, 30, 60, 35, INF, 50])
    budget = 100.0
    paired = stats.paired_ratio(a, b, budget, budget, level=0.9, at_least=1.0)
    d = np.log(np.minimum(a, budget) / np.minimum(b, budget))  # reference: by hand, no helper
    low, high = reference_interval(d, 0.9)
    assert paired.ratio == pytest.approx(math.exp(d.mean()), rel=1e-12)
    assert (paired.low, paired.high) == pytest.approx((math.exp(low), math.exp(high)), rel=1e-12)
    assert (paired.n, paired.a_lost, paired.b_lost) == (6, 1, 1)


def test_a_side_that_misses_where_the_other_reaches_cannot_win_on_its_cap():
    """A is far faster on 7 seeds and misses on the 8th, where B reaches: the interval lies
    below 1, but the ratio rests on A's cap (which flatters A), so no winner is claimed."""
    a = np.array([10.0, 12, 11, 10, 13, 12, 11, INF])
    b = np.array([80.0, 85, 90, 82, 88, 84, 86, 90])
    paired = stats.paired_ratio(a, b, 100.0, 100.0, at_least=1.0)
    assert paired.high < 1 and paired.a_lost == 1
    assert paired.verdict == "unresolved"
    assert stats.paired_ratio(a[:7], b[:7], 100.0, 100.0, at_least=1.0).verdict == "a"


def test_a_side_that_reaches_where_the_other_misses_wins():
    """B missing is capped at the budget: that only understates A's advantage, so A wins."""
    a = np.array([10.0, 12, 11, 10, 13, 12, 11, 14])
    b = np.array([80.0, 85, INF, 82, 88, INF, 86, 90])
    paired = stats.paired_ratio(a, b, 100.0, 100.0, at_least=1.0)
    assert paired.verdict == "a" and paired.b_lost == 2
    mirrored = stats.paired_ratio(b, a, 100.0, 100.0, at_least=1.0)
    assert mirrored.verdict == "b" and mirrored.ratio == pytest.approx(1 / paired.ratio)


def test_seeds_where_both_miss_are_left_out():
    a = np.array([10.0, 12, 11, INF, 10])
    b = np.array([20.0, 25, 21, INF, 24])
    with_miss = stats.paired_ratio(a, b, 100.0, 100.0, at_least=1.0)
    without = stats.paired_ratio(np.delete(a, 3), np.delete(b, 3), 100.0, 100.0, at_least=1.0)
    assert with_miss == without and with_miss.n == 4


@pytest.mark.parametrize("a, b, verdict", [
    ([10.0, 20, 10, 20], [20.0, 10, 20, 10], "tied"),  # the interval contains 1
    ([10.0, INF, INF], [INF, INF, INF], "unresolved"),  # one seed where either reaches: no interval
    ([INF, INF], [INF, INF], "unresolved"),  # nobody reaches
])
def test_tied_and_unresolved(a, b, verdict):
    assert stats.paired_ratio(a, b, 100.0, 100.0, at_least=1.0).verdict == verdict


def test_final_values_cap_a_diverged_run_at_its_initial_value():
    a, b = np.array([1.0, 1.1, 0.9, 1.0, 1.2, 1.0]), np.array([2.0, INF, 2.2, 1.9, 2.5, 2.1])
    initial = np.array([5.0, 6.0, 5.5, 5.2, 5.1, 5.4])
    paired = stats.paired_ratio(a, b, initial, initial)
    d = np.log(a / np.where(np.isfinite(b), b, initial))
    assert paired.ratio == pytest.approx(math.exp(d.mean()), rel=1e-12) and paired.verdict == "a"


# ----- tuning, the derived target and the performance profile --------------------------------------
def test_tuning_key_orders_diverged_then_misses_then_steps_then_final():
    budget = 100.0
    settings = [
        ([5.0, 5.0], [INF, 0.1]),  # fastest, but a seed diverged
        ([50.0, INF], [0.2, 0.2]),  # one seed misses
        ([40.0, 60.0], [0.5, 0.5]),  # both reach, geometric mean √2400 ≈ 49
        ([45.0, 55.0], [0.3, 0.3]),  # both reach, geometric mean √2475 ≈ 49.7: slower
        ([40.0, 60.0], [0.4, 0.4]),  # the third's steps with a lower final value
    ]
    keys = [stats.tuning_key(s, f, budget) for s, f in settings]
    assert sorted(range(len(keys)), key=lambda i: keys[i]) == [4, 2, 3, 1, 0]
    assert stats.pick(keys) == 4
    assert stats.pick([keys[2], keys[2]]) == 0  # ties: the first in grid order


def test_derived_target_is_the_factor_times_the_best_geometric_mean_without_lost_seeds():
    finals = [[1.0, 4.0], [3.0, 3.0], [0.01, INF]]  # geometric means 2, 3; the last lost a seed
    assert stats.derived_target(finals, 2.5) == pytest.approx(5.0)
    assert math.isnan(stats.derived_target([[INF, 1.0]], 2.0))


def test_performance_profile_of_a_hand_computed_example():
    steps = np.array([
        [10.0, 20.0, 40.0],  # ratios 1, 2, 4
        [30.0, 15.0, 15.0],  # 2, 1, 1 (tie: both fastest)
        [INF, 40.0, 100.0],  # ∞, 1, 2.5
        [INF, INF, INF],  # nobody reaches: ∞ for all
        [0.0, 5.0, 0.0],  # a target met at step 0 counts as 1 step: 1, 5, 1
    ])
    taus = [1.0, 2.0, 2.5, 4.0, 5.0, 1e9]
    rho = stats.performance_profile(steps, taus)
    expected = np.array([[2, 3, 3, 3, 3, 3], [2, 3, 3, 3, 4, 4], [2, 2, 3, 4, 4, 4]]).T / 5
    np.testing.assert_array_equal(rho, expected)


# ----- the command --------------------------------------------------------------------------------
def compare(tmp_path, *args):
    result = CliRunner().invoke(main, ["compare", "linear_regression", *args, "--out", str(tmp_path / "runs"),
                                       "--save", str(tmp_path / "out" / "compare.png")])
    return result


def test_scores_the_setting_tuned_on_the_tuning_seeds_never_the_held_out_ones(tmp_path):
    """Find seeds where SGD's best lr on one tuning seed differs from its best on two other
    seeds, then check the command scores the tuning-best on those other seeds."""
    lrs, target, seeds = [0.004, 0.006], 0.06, list(range(10))
    base = RunConfig("linear_regression", "sgd", {"d": 4, "D": 2}, {}, steps=40, metric_every=5)
    configs = run_configs(grid(base, {"hparams.lr": lrs, "seed": seeds}), tmp_path / "runs")
    rows = store.load_table(tmp_path / "runs", configs)
    rows = rows[rows["metric"] == "loss"].sort_values(["run", "step"])
    per_run = rows.groupby("run").agg(lr=("lr", "first"), seed=("seed", "first"), final=("value", "last"))
    per_run["steps"] = [brute_force_steps(g["step"], g["value"], target) for _, g in rows.groupby("run")]

    def best_lr(on):
        runs = per_run[per_run["seed"].isin(on)]
        keys = [stats.tuning_key(runs[runs["lr"] == lr]["steps"], runs[runs["lr"] == lr]["final"], 40) for lr in lrs]
        return lrs[stats.pick(keys)]

    tune, score = next(([t], list(s)) for t in seeds for s in itertools.combinations([x for x in seeds if x != t], 2)
                       if best_lr([t]) != best_lr(s))
    assert best_lr(tune) != best_lr(score)  # the case: the held-out seeds would tune differently
    result = compare(tmp_path, "--optimizer", "sgd,adamw", "--lr", ",".join(map(str, lrs)), *SMALL,
                     "--target", str(target), "--tune-seeds", str(tune[0]), "--score-seeds", ",".join(map(str, score)))
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "compare.json").read_text())
    (sgd,) = [t for t in doc["tuned"] if t["optimizer"] == "sgd"]
    assert sgd["lr"] == best_lr(tune)
    runs = pd.read_csv(tmp_path / "out" / "compare.csv")
    scored = runs[runs["role"] == "score"]
    assert set(scored["seed"]) == set(score) and set(runs[runs["role"] == "tune"]["seed"]) == set(tune)
    assert set(scored[scored["optimizer"] == "sgd"]["lr"]) == {best_lr(tune)}


def test_end_to_end_on_a_family_with_two_optimizers(tmp_path):
    args = ["--optimizer", "sgd,adamw", "--lr", "1e-3:1e-1:3", "-o", "momentum=0,0.9", "-p", "condition_number=1,10",
            *SMALL, "--tune-seeds", "0-1", "--score-seeds", "10-12", "--metric", "excess_loss", "--tau-max", "4"]
    result = compare(tmp_path, *args)
    assert result.exit_code == 0, result.output
    for words in ["[condition_number=1]", "[condition_number=10]", "target: excess_loss ≤", "sgd/adamw",
                  "95 % t-interval", "A beats B when", "performance profile over 6 instances", "ρ(4)"]:
        assert words in result.output
    out = tmp_path / "out"
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    runs = pd.read_csv(out / "compare.csv")
    tune = runs[runs["role"] == "tune"]  # problems × settings (lrs, × momenta for sgd only) × tuning seeds
    assert len(tune) == 2 * (3 * 2 + 3) * 2 and tune.groupby("optimizer")["setting"].nunique().to_dict() == \
        {"sgd": 6, "adamw": 3}
    assert len(runs[runs["role"] == "score"]) == 2 * 2 * 3  # problems × optimizers × held-out seeds
    doc = json.loads((out / "compare.json").read_text())
    for _, run in runs.iterrows():  # steps to target against a brute force over the run's own table
        metrics = store.read([store.find_run(tmp_path / "runs" / run["run"])])
        metrics = metrics[metrics["metric"] == "excess_loss"].sort_values("step")
        target = doc["target"]["per_problem"][run["problem"]]
        assert run["steps_to_target"] == brute_force_steps(metrics["step"], metrics["value"], target)
    scored = runs[runs["role"] == "score"]
    reached = scored.groupby("optimizer")["steps_to_target"].apply(lambda s: np.isfinite(s).mean())
    profile = pd.DataFrame(doc["profile"])
    at_max = profile[profile["tau"] == 4].set_index("optimizer")["rho"]
    assert all(at_max[o] <= reached[o] for o in reached.index)
    assert {p["verdict"] for p in doc["pairs"]} <= set(stats.VERDICTS) and len(doc["pairs"]) == 2 * 2
    stamps = {name: run.where for name, run in store.runs_in(tmp_path / "runs").items()}
    assert compare(tmp_path, *args).exit_code == 0
    assert stamps == {name: run.where for name, run in store.runs_in(tmp_path / "runs").items()}, "runs redone"


@pytest.mark.parametrize("args, words", [
    (["--tune-seeds", "0-2", "--score-seeds", "2-5"], "share seed(s) 2"),
    (["--metric", "accuracy"], "--metric 'accuracy' is not allowed; choose one of loss, excess_loss"),
    (["--target", "0"], "--target 0 must be a finite number > 0"),
    (["--target", "-1"], "--target -1 must be a finite number > 0"),
    (["--target-factor", "0.5"], "--target-factor 0.5 must be a finite number >= 1"),
    (["--target", "1", "--target-factor", "2"], "give --target or --target-factor, not both"),
    (["--score-seeds", "7"], "at least 2 held-out seeds"),
    (["--level", "1"], "--level 1 must lie strictly between 0 and 1"),
    (["--tau-max", "1"], "--tau-max 1 must be a finite number > 1"),
    (["-o", "lr=0.1"], "give the learning rates to tune as --lr"),
    (["-o", "bogus=1"], "unknown optimizer option 'bogus'"),
    (["--save", "x.txt"], "use one of .png, .svg, .pdf"),
])
def test_bad_input_is_one_line_before_any_run(tmp_path, args, words):
    result = CliRunner().invoke(main, ["compare", "linear_regression", "--optimizer", "sgd,adamw", *SMALL,
                                       "--out", str(tmp_path / "runs"), *args])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert sum(line.startswith("Error") for line in result.output.splitlines()) == 1
    assert not (tmp_path / "runs" / "batches").exists()


def test_one_optimizer_or_a_metric_the_problem_lacks_is_an_error(tmp_path):
    one = CliRunner().invoke(main, ["compare", "linear_regression", "--optimizer", "sgd", "--out", str(tmp_path)])
    assert one.exit_code == 2 and "at least two optimizers" in one.output
    lacking = CliRunner().invoke(main, ["compare", "scale_invariant", "--optimizer", "sgd,adamw", "--metric",
                                        "excess_loss", "--out", str(tmp_path)])
    assert lacking.exit_code == 2 and "scale_invariant does not record it; it records loss" in lacking.output


def test_held_out_tunes_on_the_tuning_seeds_and_marks_the_tuned_runs_on_the_others():
    """`protocol.held_out` on a finished sweep: lr 0.3 is best on seeds 0, 1 and worst on 2–4, so
    0.3 is tuned and the held-out runs marked tuned are those at 0.3 on seeds 2–4."""
    finals = {0.1: [1.0, 1.0, 0.01, 0.01, 0.01], 0.3: [0.1, 0.1, 9.0, 9.0, 9.0], 1.0: [math.inf] * 5}
    runs = pd.DataFrame([{"run": f"{lr}-{s}", "problem": "p", "optimizer": "sgd", "setting": f"lr={lr}", "lr": lr,
                          "seed": s, "budget": 10, "final": v} for lr, vals in finals.items() for s, v in enumerate(vals)])
    rows = pd.DataFrame([{"run": r.run, "step": step, "value": value} for r in runs.itertuples()
                         for step, value in ((0, 10.0), (10, r.final if math.isfinite(r.final) else math.nan))])
    targets, tuned, marked = protocol.held_out(runs, rows, tune_seeds=[0, 1])
    assert targets == {"p": pytest.approx(2 * 0.1)} and tuned["lr"].tolist() == [0.3]
    scored = marked[marked["tuned"] & (marked["role"] == "score")]
    assert sorted(scored["seed"]) == [2, 3, 4] and set(scored["final"]) == {9.0}
    assert marked.set_index("run").loc["0.1-2", "steps_to_target"] == 10 and not marked.set_index("run").loc["0.1-2", "tuned"]


def test_settings_differing_in_a_static_option_are_different_optimizers_with_explicit_labels():
    """Muon with and without NorMuon's normalize are two optimizers ("muon", "normuon"), never one
    tuned over both; a number (lr, momentum) is a setting of one optimizer. A report table's row
    (options as columns, numbers as floats, tuples as text) gets the same label as the config."""
    muon = RunConfig("linear_regression", "muon", {"d": 4, "D": 2}, {"lr": 0.1}, steps=10)
    settings = [muon, dataclasses.replace(muon, hparams={"lr": 0.3, "momentum": 0.9}),
                dataclasses.replace(muon, hparams={"lr": 0.1, "normalize": "rows"}),
                dataclasses.replace(muon, hparams={"lr": 0.1, "normalize": "rows", "orthogonalizer": "svd"}),
                dataclasses.replace(muon, hparams={"lr": 0.1, "normalize": "columns", "ns_steps": 3}),
                dataclasses.replace(muon, optimizer="sgd")]
    plan = protocol.Protocol(tuple(settings), (0,), (1, 2))
    assert plan.optimizers == ["muon", "normuon", "normuon orthogonalizer=svd", "muon ns_steps=3 normalize=columns", "sgd"]
    row = {**{k: format_value(v) if isinstance(v, tuple) else float(v) if isinstance(v, int) and not isinstance(v, bool)
              else v for k, v in settings[2].resolve().hparams.items()}, "optimizer": "muon"}
    assert protocol.optimizer_labels(pd.DataFrame([row, {**row, "normalize": "none"}])).tolist() == ["normuon", "muon"]


def test_more_held_out_seeds_leave_the_tuned_settings_and_the_old_roles_as_they_were():
    """What an evidence extension does to a report's sweep (new seeds after the largest): on seeds
    0–4 and on 0–9, `held_out` tunes the same settings on seeds 0, 1 and scores every other seed."""
    rng = np.random.default_rng(1)
    finals = {lr: rng.lognormal(np.log(lr), 0.3, 10) for lr in (0.1, 0.3, 1.0)}
    runs = pd.DataFrame([{"run": f"{lr}-{s}", "problem": "p", "optimizer": "sgd", "setting": f"lr={lr}", "lr": lr,
                          "seed": s, "budget": 10, "final": v} for lr, vals in finals.items() for s, v in enumerate(vals)])
    rows = pd.DataFrame([{"run": r.run, "step": step, "value": value} for r in runs.itertuples()
                         for step, value in ((0, 10.0), (10, r.final))])
    few, more = (protocol.held_out(runs[runs["seed"] < n], rows[rows["run"].isin(runs.loc[runs["seed"] < n, "run"])],
                                   tune_seeds=[0, 1]) for n in (5, 10))
    pd.testing.assert_frame_equal(few[1], more[1])
    assert few[0] == more[0]
    roles = more[2].set_index("run")["role"]
    assert (roles.loc[few[2]["run"]].to_numpy() == few[2]["role"].to_numpy()).all()
    assert set(more[2].loc[more[2]["role"] == "tune", "seed"]) == {0, 1}
    assert set(more[2].loc[more[2]["role"] == "score", "seed"]) == set(range(2, 10))


def test_a_sweep_compares_tuned_optimizers_on_held_out_seeds_against_the_best_other():
    """`sweep.held_out` + `sweep.ordering` on a hand-made sweep: the best other is the lower of
    adamw and sgd on the tuning seeds; the ratio is the geometric mean of the held-out seeds' capped
    final values (a diverged run counts as its initial value 10), as computed by hand."""
    finals = {("muon", 0.1): [1.0, 1.0, 0.5, 0.4, 0.6, 0.5], ("muon", 1.0): [math.inf] * 6,
              ("adamw", 0.1): [2.0, 2.0, 1.0, math.inf, 1.2, 1.1], ("sgd", 0.1): [3.0, 3.0, 0.1, 0.1, 0.1, 0.1]}
    runs = pd.DataFrame([{"run": f"{o}{lr}-{s}", "problem": "p", "optimizer": o, "lr": lr, "seed": s, "steps": 10,
                          "final": v, "initial": 10.0} for (o, lr), vals in finals.items() for s, v in enumerate(vals)])
    rows = pd.DataFrame([{"run": r.run, "step": step, "value": value} for r in runs.itertuples()
                         for step, value in ((0, 10.0), (10, r.final if math.isfinite(r.final) else math.nan))])
    at, tuned = sweep.held_out(runs, rows, [0, 1], ("adamw", "sgd"))
    assert tuned.at[("p", "muon"), "other"] == "adamw" and tuned.at[("p", "muon"), "lr"] == 0.1
    check = checks.Check("C99", "C99-x", "ratio", "final", "a < b", 0.1, kind="hypothesis")
    out = sweep.ordering(check, at[at["role"] == "score"], tuned, "muon", "other")
    by_hand = np.log(np.array([0.5, 0.4, 0.6, 0.5]) / np.array([1.0, 10.0, 1.2, 1.1]))
    low, high = scipy_stats.t.interval(0.95, 3, loc=by_hand.mean(), scale=scipy_stats.sem(by_hand))
    assert out.measured == pytest.approx(math.exp(by_hand.mean()), rel=1e-12) and out.n == 4
    assert (out.ci_low, out.ci_high) == pytest.approx((math.exp(low), math.exp(high)), rel=1e-10)
