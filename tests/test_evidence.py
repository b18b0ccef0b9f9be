"""Adaptive evidence (`toylab.evidence`): a check left inconclusive for want of steps, seeds or grid
points extends the runs within the claim's budget; the ledger says what was run and extended;
a re-render reruns nothing; quick mode and an exhausted budget extend no further."""
import textwrap

import numpy as np
import pandas as pd
import pytest

from toylab import checks, evidence, report, store
from toylab.options import UserError

# A claim whose checks need what the runs may lack: C99-long needs its window to start 4
# relaxation times (of 40 steps) in, i.e. T ≥ 160 steps; C99-seeds needs ≥ 4 seeds' worth of
# replicates (the interval of a constant is exact: only the count decides); C99-grid needs SGD's
# best lr of a 2-point grid inside the grid (on this quadratic the best lr is above 0.03).
CLAIM = '''
import numpy as np
from toylab import checks
from toylab.analyses import Analysis

SPEC = """
title = "t"
claim = "C99"
question = "q"
steps = 40
seeds = [0, 1]
metric_every = 10
budget = { steps = %(steps)s, seeds = 2, grid = 2 }

[[problems]]
name = "linear_regression"
d = 4
D = 1
noise = 0.0

[[optimizers]]
name = "sgd"
lr = [0.001, 0.003]
"""


def analyze(tables, spec):
    m = tables["metrics"].query("metric == 'loss'")
    T = int(m["step"].max())
    long = checks.Check("C99", "C99-long", "T", "T", "T ≥ 160", 1.0, kind="control",
                        needs=checks.Needs(relaxation_times=4))
    seeds = sorted(m["seed"].unique())
    few = checks.Check("C99", "C99-seeds", "1", "one per seed", "1", 0.1, kind="control", needs=checks.Needs(width=1))
    values = np.ones(len(seeds)) + (0.0 if len(seeds) >= 4 else np.linspace(-1, 1, len(seeds)))
    grid = checks.Check("C99", "C99-grid", "best lr", "final loss", "any", 0.0, kind="control")
    final = checks.final_values(m.query("step == step.max()"), "loss")
    return Analysis(figures=[], table=final[["lr", "seed", "value"]], numbers={"T": T}, checks=[
        *checks.headline(long, [checks.equivalence(long, [T, T], T, group="g",
                                                   regime=checks.relaxed(long, T, 40))]),
        checks.equivalence(few, values, 1.0),
        *checks.best_on_grid(grid, final, "lr", (0, 10))])
'''


@pytest.fixture
def claim(tmp_path, monkeypatch):
    def write(steps):
        folder = tmp_path / f"claims{steps}"
        folder.mkdir()
        (folder / "c99_demo.py").write_text(CLAIM % {"steps": steps})
        monkeypatch.setenv("TOYLAB_CLAIMS", str(folder))
        return report.load("c99_demo")
    return write


def rendered(spec, out):
    report.render(spec, out)
    return pd.read_csv(out / "c99_demo" / "checks.csv").set_index("check")


def test_inconclusive_checks_extend_steps_seeds_and_grid_until_decided(claim, tmp_path):
    ledger = rendered(claim(4), tmp_path / "out")
    assert ledger.loc["C99-long", "verdict"] == "holds"  # T = 40 → 80 → 160
    assert ledger.loc["C99-long", "extensions"] == ("steps 40→80 (regime not reached); "
                                                    "steps 80→160 (regime not reached)")
    assert ledger.loc["C99-seeds", "verdict"] == "holds"  # 2 → 4 seeds
    assert ledger.loc["C99-seeds", "extensions"] == "seeds 2→4 (few replicates)"
    assert "lr grid 2→4 points (grid edge)" in ledger.loc["C99-grid", "extensions"]
    assert set(ledger["steps"]) == {160} and set(ledger["seeds"]) == {4}
    assert ledger.loc["C99-grid", "grid_points"] >= 4
    text = (tmp_path / "out" / "c99_demo" / "report.md").read_text()
    assert "## Evidence extended" in text and "steps 80→160" in text


def test_a_re_render_reruns_nothing(claim, tmp_path):
    spec, out = claim(4), tmp_path / "out"
    first = rendered(spec, out)
    runs = sorted(p.name for p in (out / "runs").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()}
    again = rendered(spec, out)
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()} == stamps
    pd.testing.assert_frame_equal(first, again)


def test_an_exhausted_budget_is_said_and_the_check_stays_inconclusive(claim, tmp_path):
    ledger = rendered(claim(2), tmp_path / "out")  # steps may only double: T = 80 < 160
    row = ledger.loc["C99-long"]
    assert row["verdict"] == "inconclusive" and row["cause"] == "regime not reached"
    assert row["extensions"] == ("steps 40→80 (regime not reached); "
                                 "budget spent: no further steps (the claim allows ×2 steps)")
    assert row["steps"] == 80


def test_quick_mode_never_extends(claim, tmp_path):
    spec = claim(4)
    spec.quick = True
    ledger = rendered(spec, tmp_path / "out")
    assert ledger.loc["C99-long", "verdict"] == "inconclusive"
    assert ledger["extensions"].isna().all() and set(ledger["steps"]) == {40}


def test_a_grid_widens_by_its_own_geometric_step():
    assert evidence._wider([0.01, 0.1, 1.0], 1) == pytest.approx([0.001, 0.01, 0.1, 1.0, 10.0])
    assert evidence._wider([0.5], 1) == [0.5]  # one point: no step to widen by


@pytest.mark.parametrize("raw", ["{ steps = 0.5 }", "{ lr = 2 }", "3", "{ grid = 1.5 }"])
def test_a_bad_budget_is_one_line_naming_it(claim, tmp_path, monkeypatch, raw):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "c99_demo.py").write_text((CLAIM % {"steps": 4}).replace(
        "budget = { steps = 4, seeds = 2, grid = 2 }", f"budget = {raw}"))
    monkeypatch.setenv("TOYLAB_CLAIMS", str(folder))
    with pytest.raises(UserError, match="budget") as e:
        report.load("c99_demo")
    assert "\n" not in str(e.value)


def test_runs_of_every_round_are_cached_runs(claim, tmp_path):
    """The extended rounds' runs are ordinary cached runs: each verifies in the store."""
    out = tmp_path / "out"
    rendered(claim(4), out)
    batches = list((out / "runs" / "batches").iterdir())
    assert batches and all(store.batch(p)[1] is None for p in batches)
    assert store.runs_in(out / "runs") and not store.Index(out / "runs").broken()


def test_a_longer_run_extends_only_the_optimizer_the_check_names(claim):
    spec = claim(4)
    spec.optimizers = [*spec.optimizers, {"name": "adamw", "lr": 0.01}]
    longer = evidence.extended(spec, spec, "steps", "adamw", evidence.Budget(steps=4))
    assert {(c.optimizer, c.steps) for c in longer.configs()} == {("sgd", 40), ("adamw", 80)}
    both = evidence.extended(longer, spec, "steps", "", evidence.Budget(steps=4))
    assert {(c.optimizer, c.steps) for c in both.configs()} == {("sgd", 80), ("adamw", 160)}
    assert evidence.extended(both, spec, "steps", "adamw", evidence.Budget(steps=4)) is None  # adamw at ×4
    # the ledger's words give the named optimizer's own steps, not the longest run of the spec
    assert evidence._describe("steps", both, evidence.extended(both, spec, "steps", "sgd", evidence.Budget(steps=4)),
                              "sgd") == "steps 80→160 (sgd runs)"


def test_a_claim_without_a_budget_says_it_was_not_extended(claim, tmp_path):
    spec = claim(4)
    spec.budget = evidence.Budget()
    ledger = rendered(spec, tmp_path / "out")
    assert ledger.loc["C99-long", "extensions"] == "not extended: the claim declares no budget for steps"
    assert set(ledger["steps"]) == {40}


def test_a_tie_crossing_the_margin_asks_for_seeds_and_one_inside_it_is_final():
    """The tie rule (`checks.ordering`): log ratios whose interval crosses +m ask for more seeds;
    an interval inside [−m, m] is a tie and asks for nothing; the headline carries its group's need."""
    check = checks.Check("C99", "C99-tie", "ratio", "final", "a < b", 0.1, combine="any", kind="hypothesis")
    crossing = checks.ordering(check, np.exp([0.05, 0.2, 0.1, 0.15]), np.ones(4), "crossing")
    inside = checks.ordering(check, np.exp([0.01, -0.02, 0.0, 0.01]), np.ones(4), "inside")
    assert (crossing.cause, inside.cause) == ("few replicates", "tied")
    assert evidence.undecided(checks.headline(check, [crossing, inside])) == {"C99-tie": {("seeds", "")}}
    assert evidence.undecided(checks.headline(check, [inside])) == {}


def test_extending_a_held_out_claim_adds_held_out_seeds_and_keeps_its_tuning_seeds():
    """muon_where tunes on `tune_seeds` and scores the other seeds: an extension appends new seeds
    after the largest, so the tuning seeds stay as declared and every new seed is held out."""
    spec = report.load("muon_where")
    wider = evidence.extended(spec, spec, "seeds", "", spec.budget)
    tune = set(wider.settings["tune_seeds"])
    assert tune == set(spec.settings["tune_seeds"]) <= set(spec.seeds) and wider.seeds[:len(spec.seeds)] == spec.seeds
    new = set(wider.seeds) - set(spec.seeds)
    assert len(new) == len(spec.seeds) and not new & tune
    while (next_round := evidence.extended(wider, spec, "seeds", "", spec.budget)) is not None:
        wider = next_round
    assert len(wider.seeds) == spec.budget.seeds * len(spec.seeds), "the budget's factor ends the extensions"
    assert set(wider.settings["tune_seeds"]) == tune


def test_a_premise_not_met_asks_for_no_extension():
    """A prediction whose premise fails on the problem stays inconclusive: no longer or wider run
    can make the premise hold, so the lab extends nothing for it (a regime not reached would)."""
    from toylab import checks
    check = checks.Check("C99", "C99-premise", "x", "x", "1", 0.05, kind="seed")
    premise = checks.equivalence(check, [1.0, 1.01, 0.99], 1.0, regime=checks.Regime(False, "p ∝ ε fails", "premise not met"))
    unreached = checks.equivalence(check, [1.0, 1.01, 0.99], 1.0, regime=checks.Regime(False, "drifts"))
    assert (premise.verdict, premise.cause) == ("inconclusive", "premise not met")
    assert evidence.undecided([premise]) == {}
    assert evidence.undecided([unreached]) == {"C99-premise": {("steps", "")}}
