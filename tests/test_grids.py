"""One notion of a grid of runs: a report spec, `toylab sweep` and `grids.grid` given the same lists
make the same configs, in the same order."""
from click.testing import CliRunner

from toylab import store
from toylab.cli import main
from toylab.config import RunConfig
from toylab.grids import grid
from toylab.report import load_spec

SPEC = """
title = "Grid"
claim = "C13"
question = "?"
analysis = "learning_curves"
steps = 3
seeds = [0, 1]
[[problems]]
name = "linear_regression"
d = [3, 4]
D = 2
[[optimizers]]
name = "adamw"
lr = [1e-3, 1e-2]
betas = [0.9, 0.95]
schedules = { lr = ["constant", "cosine"] }
"""

AXES = {"problem_options.d": [3, 4], "problem_options.D": [2], "hparams.lr": [1e-3, 1e-2],
        "hparams.betas": [(0.9, 0.95)], "schedules.lr": ["constant", "cosine"], "seed": [0, 1]}


def test_a_spec_is_the_grid_of_its_lists_in_order(tmp_path):
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / "spec.toml").write_text(SPEC)
    spec = load_spec(tmp_path / "grid" / "spec.toml")
    expected = grid(RunConfig("linear_regression", "adamw", steps=3, probes=()), AXES)
    assert len(expected) == 2 * 2 * 2 * 2
    assert [c.resolve() for c in spec.configs()] == [c.resolve() for c in expected]


def test_a_sweep_runs_the_grid_of_its_lists(tmp_path):
    args = ["sweep", "linear_regression", "--optimizer", "adamw", "-p", "d=3,4", "-p", "D=2", "--lr", "1e-3,1e-2",
            "-o", "betas=0.9,0.95", "--schedule", "lr=cosine", "--seeds", "0,1", "--steps", "3", "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    axes = {k: v for k, v in AXES.items() if k != "schedules.lr"}
    expected = grid(RunConfig("linear_regression", "adamw", schedules={"lr": "cosine"}, steps=3), axes)
    assert set(store.runs_in(tmp_path)) == {c.resolve().hash() for c in expected}
