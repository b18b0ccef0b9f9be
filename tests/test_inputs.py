"""Every user error is one line before any computation: spec.toml values, problem files, the
output folder, memory, sweep size, Ctrl-C, failed shards, devices; warnings for options that
cannot take effect; one torch thread by default."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import pandas as pd

from toylab import engine, experiments, grids, problems, progress, shards, store
from toylab.cli import main
from toylab.config import RunConfig
from toylab.options import Failure, UserError
from toylab.report import load_spec

TINY = ["-p", "d=3", "-p", "D=1", "--steps", "5"]

SPEC = """
title = "Demo"
claim = "C13"
question = "Which optimizer fits a small regression fastest?"
analysis = "learning_curves"
steps = 5
seeds = [0, 1]
[[problems]]
name = "linear_regression"
d = 3
D = 1
[[optimizers]]
name = "adamw"
lr = [1e-3, 1e-2]
betas = [0.9, 0.95]
[[optimizers]]
name = "muon"
ns_steps = 5
[quick]
steps = 3
"""


def one_line_error(result, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    return errors[0]


def warnings_of(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Warning: ")]


@pytest.fixture
def no_computation(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("computed although the input was bad")
    monkeypatch.setattr(engine, "run_batch", fail)


# ----- spec.toml ----------------------------------------------------------------------------------
SPEC_ERRORS = [
    ("seeds = [0, 1]", "seeds = [-1]", "seeds"),
    ("seeds = [0, 1]", "seeds = [0.5]", "seeds"),
    ("seeds = [0, 1]", 'seeds = ["a"]', "seeds"),
    ("seeds = [0, 1]", "seeds = []", "seeds"),
    ("seeds = [0, 1]", "seeds = true", "seeds"),
    ("seeds = [0, 1]", 'seeds = "3-x"', "seeds"),
    ("seeds = [0, 1]", 'seeds = "0-999999"', "limit of 100,000"),
    ("lr = [1e-3, 1e-2]", "lr = [1e-3, inf]", "lr=inf is not a finite number"),
    ("lr = [1e-3, 1e-2]", "lr = [1e-3, nan]", "lr=nan is not a finite number"),
    ("lr = [1e-3, 1e-2]", "lr = [-1e-3]", "lr=-0.001 is out of range"),
    ("lr = [1e-3, 1e-2]", "lr = []", "lr = [] has no values"),
    ("lr = [1e-3, 1e-2]", 'lr = ["fast"]', "lr='fast' is not a finite number"),
    ("lr = [1e-3, 1e-2]", "lr = [[1e-3]]", "lr=(0.001,) is not a finite number"),
    ("steps = 5", "steps = true", "steps=True must be a positive integer"),
    ("steps = 5", "steps = 0", "steps=0 must be a positive integer"),
    ("steps = 5", "steps = 2.5", "steps=2.5 must be a positive integer"),
    ("steps = 5", "metric_every = -1", "metric_every=-1"),
    ("steps = 5", 'dtype = "float16"', "dtype='float16' is not allowed"),
    ("betas = [0.9, 0.95]", "betas = [0.9]", "betas=(0.9,) is not 2 values"),
    ("betas = [0.9, 0.95]", "betas = [0.9, 1.5]", "betas=(0.9, 1.5) is out of range"),
    ("betas = [0.9, 0.95]", "bias_correction = 1", "bias_correction=1 is not true or false"),
    ("ns_steps = 5", "ns_steps = 5.5", "ns_steps=5.5 is not an integer"),
    ("ns_steps = 5", 'ns_steps = "five"', "ns_steps='five' is not an integer"),
    ("d = 3", "d = 16.5", "d=16.5 is not an integer"),
    ("d = 3", "d = 0", "d=0 is out of range"),
    ("d = 3", "dd = 3", "unknown option 'dd'"),
    ('analysis = "learning_curves"', 'analysis = "../../etc"', "not a module name"),
    ('analysis = "learning_curves"', 'analysis = "nope"', "unknown analysis 'nope'"),
    ('analysis = "learning_curves"', "analysis = 3", "analysis=3 is not a string"),
    ("steps = 5", "stesp = 5", "unknown key 'stesp'; valid keys: title, claim"),
    ("[quick]\nsteps = 3", "[quick]\nstesp = 3", "unknown key 'stesp'"),
    ('title = "Demo"', 'title = ["Demo"]', "title=['Demo'] is not a string"),
    ('title = "Demo"', "", "missing key 'title'"),
    ("steps = 5", 'probes = "norms"', "is not a list of probe names"),
    ("steps = 5", 'probes = ["nrm"]', "valid probes"),
    ('name = "linear_regression"', 'name = "linear_regresion"', "unknown problem 'linear_regresion'"),
    ('name = "linear_regression"', "name = 3", "each with a name"),
    ('name = "muon"', 'name = "muonn"', "unknown optimizer 'muonn'"),
    ("ns_steps = 5", 'schedules = "cosine"', "schedules='cosine' is not a table"),
    ("ns_steps = 5", 'schedules = { lr = "cosin" }', "cosin"),
    ("ns_steps = 5", 'schedules = { lr = 3 }', "schedules"),
    ('claim = "C13"', 'claim = "C13"\nsteps = [', "spec.toml"),
]


@pytest.mark.parametrize("old, new, words", SPEC_ERRORS, ids=[e[1].replace("\n", " ") for e in SPEC_ERRORS])
def test_a_bad_spec_is_one_line_naming_the_file_before_anything_runs(tmp_path, no_computation, old, new, words):
    assert old in SPEC
    path = tmp_path / "demo" / "spec.toml"
    path.parent.mkdir()
    path.write_text(SPEC.replace(old, new, 1))
    result = CliRunner().invoke(main, ["report", "--out", str(tmp_path / "out"), str(path)])
    line = one_line_error(result)
    assert line.startswith(f"Error: {path}: ") and words in line, line
    assert not (tmp_path / "out" / "runs").exists() or not any((tmp_path / "out" / "runs").iterdir())


def test_spec_values_get_the_command_lines_types_and_hashes(tmp_path):
    path = tmp_path / "demo" / "spec.toml"
    path.parent.mkdir()
    path.write_text(SPEC.replace("seeds = [0, 1]", 'seeds = "0-3"').replace("d = 3", "d = 3.0\nnoise = 0")
                    .replace("ns_steps = 5", "ns_steps = 5.0"))
    spec = load_spec(path)
    assert spec.seeds == [0, 1, 2, 3], "a range string is a range, as on the command line"
    configs = [c.resolve() for c in spec.configs()]
    muon = next(c for c in configs if c.optimizer == "muon")
    assert muon.hparams["ns_steps"] == 5 and type(muon.hparams["ns_steps"]) is int
    assert muon.problem_options["d"] == 3 and type(muon.problem_options["noise"]) is float
    cli = RunConfig("linear_regression", "muon", {"d": "3", "D": "1", "noise": "0"}, steps=5, seed=0).resolve()
    assert cli.hash() in {c.hash() for c in configs}, "the same run from the CLI and a spec shares its folder"


def test_an_analysis_setting_is_a_valid_key_and_quick_without_a_quick_table_warns(tmp_path):
    path = tmp_path / "demo" / "spec.toml"
    path.parent.mkdir()
    path.write_text(SPEC.replace("steps = 5", 'steps = 5\nmetric = "excess_loss"', 1).split("[quick]")[0])
    assert load_spec(path).settings == {"metric": "excess_loss"}
    with pytest.warns(UserWarning, match="has no \\[quick\\] table"):
        load_spec(path, quick=True)


# ----- problem files ----------------------------------------------------------------------------------
@pytest.fixture
def problem_folder(tmp_path, monkeypatch):
    """A $TOYLAB_PROBLEMS folder, with the registry restored afterwards."""
    problems.discover()
    monkeypatch.setattr(problems, "REGISTRY", dict(problems.REGISTRY))
    monkeypatch.setattr(problems, "BROKEN", {})
    monkeypatch.setattr(problems, "_loaded", set(problems._loaded))
    folder = tmp_path / "my_problems"
    folder.mkdir()
    monkeypatch.setenv("TOYLAB_PROBLEMS", str(folder))
    return folder


GOOD = '''
import torch
from toylab.problems import Problem, option, register


@register
class Bowl(Problem):
    name = "{name}"
    description = "a bowl"
    n: int = option(2, "coordinates")

    def param_shapes(self):
        return {{"w": (self.n,)}}

    def init_params(self, gen):
        return {{"w": torch.ones(self.n)}}

    def sample(self, data, gen, step):
        return {{"target": self.randn(gen, self.n)}}

    def loss(self, params, batch):
        return ((params["w"] - batch["target"]) ** 2).sum()
'''

BROKEN = {
    "syntax error": "def broken(:\n",
    "missing import": "import no_such_module_here\n",
    "error after registering": GOOD.format(name="half") + "\nraise RuntimeError('oops')\n",
    "problem without a name": GOOD.format(name="x").replace('    name = "x"\n', ""),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_problem_file_is_one_line_and_the_other_problems_work(problem_folder, tmp_path, case):
    (problem_folder / "mine.py").write_text(BROKEN[case])
    (problem_folder / "bowl.py").write_text(GOOD.format(name="bowl"))
    listed = CliRunner().invoke(main, ["list"])
    assert listed.exit_code == 0 and "Traceback" not in listed.output
    assert "linear_regression" in listed.output and "bowl:" in listed.output and "half:" not in listed.output
    mentions = [line for line in listed.output.splitlines() if "mine.py" in line]
    assert len(mentions) == 2, listed.output  # the warning, and the line in the list
    ran = CliRunner().invoke(main, ["run", "bowl", "--optimizer", "sgd", "--steps", "3",
                                    "--out", str(tmp_path / "runs")])
    assert ran.exit_code == 0, ran.output
    missing = CliRunner().invoke(main, ["run", "half", "--optimizer", "sgd", "--out", str(tmp_path / "runs")])
    assert "mine.py failed to load" in one_line_error(missing)


def test_plain_torch_tensors_from_a_problem_file_take_the_runs_dtype(problem_folder):
    """Bowl builds its init with torch.ones (float32, CPU): a float64 run steps it in float64,
    exactly as a float64 init would (on a GPU the same line moves it to the device)."""
    (problem_folder / "bowl.py").write_text(GOOD.format(name="bowl"))
    problems.discover()
    config = RunConfig("bowl", "sgd", {"n": 3}, dtype="float64", steps=4, hparams={"lr": 0.1}).resolve()
    result = engine.run_batch([config])
    assert result.params["w"].dtype == torch.float64


def test_a_problem_named_like_another_is_an_error_naming_both_files(problem_folder):
    (problem_folder / "lr.py").write_text(GOOD.format(name="linear_regression"))
    result = CliRunner().invoke(main, ["list"])
    line = one_line_error(result)
    assert "'linear_regression' is defined twice" in line and "lr.py" in line and "linear_regression.py" in line
    assert problems.REGISTRY["linear_regression"].__module__ == "toylab_problems.linear_regression"


# ----- the command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("out, words", [
    ("{tmp}/a_file/runs", "is not a writable folder"),
    ("/proc/toylab_runs", "is not a writable folder"),
])
def test_an_unwritable_out_is_an_error_before_computing(tmp_path, no_computation, out, words):
    (tmp_path / "a_file").write_text("")
    result = CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", *TINY,
                                       "--out", out.format(tmp=tmp_path)])
    assert words in one_line_error(result)


def test_a_batch_too_big_for_memory_is_an_error_with_the_numbers(tmp_path, no_computation):
    result = CliRunner().invoke(main, ["sweep", "linear_regression", "--optimizer", "adamw", "-p", "d=100000",
                                       "-p", "D=100000", "--seeds", "0-3", "--out", str(tmp_path)])
    line = one_line_error(result)
    assert "4 configs × 10,000,100,000 parameters × 6 copies × 4 bytes" in line and "GiB available" in line


def test_running_out_of_memory_anyway_is_one_line(tmp_path, monkeypatch):
    def oom(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 400 bytes.\nmore")
    monkeypatch.setattr(engine, "run_batch", oom)
    result = CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", *TINY, "--out", str(tmp_path)])
    assert "out of memory running 1 configs of linear_regression (d=3 D=1)" in one_line_error(result, code=1)


def test_a_huge_seed_range_is_refused_at_once(tmp_path, no_computation):
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["sweep", "linear_regression", "--optimizer", "sgd", "--seeds", "0-999999",
                                       "--out", str(tmp_path)])
    assert "1,000,000 configs, more than the limit of 100,000" in one_line_error(result)
    assert time.perf_counter() - start < 5


def test_long_work_prints_progress_lines_when_stderr_is_not_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(progress, "LONG_WORK", 1)
    monkeypatch.setattr(progress, "LINE_EVERY", 0.0)
    base = RunConfig("linear_regression", "sgd", {"D": 1}, steps=5)
    experiments.run_configs(grids.grid(base, {"problem_options.d": [3, 4]}), tmp_path, device="cpu",
                            progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if " of 10 steps" not in line]
    assert lines[0] == f"toylab: running 2 configs in 2 batches under {tmp_path}"
    assert lines[1].startswith("toylab: batch 1/2 done (1 configs)") and lines[2].startswith("toylab: batch 2/2")


def test_one_long_batch_reports_steps_rate_and_time_left_from_inside(tmp_path, monkeypatch, capsys):
    """A single run (one batch) reports while it runs: the engine calls back after every chunk."""
    monkeypatch.setattr(progress, "LONG_WORK", 1)
    monkeypatch.setattr(progress, "LINE_EVERY", 0.0)
    config = RunConfig("linear_regression", "sgd", {"d": 3, "D": 1}, steps=3 * engine.CHUNK)
    experiments.run_configs([config], tmp_path, device="cpu", progress=True)
    inside = [line for line in capsys.readouterr().err.splitlines() if " of 768 steps" in line]
    assert [line.split(" of ")[0] for line in inside] == ["toylab: 256", "toylab: 512", "toylab: 768"]
    assert all(" steps/s, about " in line and " left (batch 1/1, 1 configs)" in line for line in inside), inside


def test_work_that_would_take_years_is_announced_with_its_estimate_at_once(tmp_path, monkeypatch):
    """--steps 1e14 (an integer written as 1e14 is accepted): the estimate comes after the first
    second of work, not silence; then Ctrl-C (here: the callback after the estimate) stops it."""
    monkeypatch.setattr(progress, "RATE_AFTER", 0.0)
    seen = []

    def stop_after_the_estimate(message):
        seen.append(message)
        if " take about " in message:
            raise KeyboardInterrupt
    monkeypatch.setattr(progress, "line", stop_after_the_estimate)
    result = CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", "--steps", "1e14",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 130
    announced, estimate = seen
    assert announced.startswith("running 1 configs") and estimate.startswith("100,000,000,000,000 steps at ") and " years more; Ctrl-C stops" in estimate


def test_a_deterministic_problem_runs_end_to_end(problem_folder, tmp_path):
    """Rosenbrock: no batch (`sample` left at its default {}), closed-form optimum (1, 1)."""
    (problem_folder / "rosen.py").write_text(ROSENBROCK)
    result = CliRunner().invoke(main, ["run", "rosenbrock", "--optimizer", "adamw", "--lr", "0.02", "--steps", "3000",
                                       "-o", "weight_decay=0", "--out", str(tmp_path / "runs"), "--dtype", "float64"])
    assert result.exit_code == 0, result.output
    (run,) = store.runs_in(tmp_path / "runs").values()
    metrics = store.read([run])
    loss = metrics[metrics["metric"] == "loss"].sort_values("step")["value"].to_numpy()
    assert loss[0] == pytest.approx(4.0) and loss[-1] < 1e-3  # f(−1, 1) = 4, f(1, 1) = 0


ROSENBROCK = '''
import torch
from toylab.problems import Problem, option, register


@register
class Rosenbrock(Problem):
    """f(x, y) = (a − x)² + b(y − x²)², minimum 0 at (a, a²); deterministic: no batch."""
    name = "rosenbrock"
    description = "Rosenbrock's valley"
    a: float = option(1.0, "a")
    b: float = option(100.0, "b")

    def param_shapes(self):
        return {"xy": (2,)}

    def init_params(self, gen):
        return {"xy": torch.tensor([-1.0, 1.0])}

    def value(self, xy):
        return (self.a - xy[..., 0]) ** 2 + self.b * (xy[..., 1] - xy[..., 0] ** 2) ** 2

    def loss(self, params, batch):
        return self.value(params['xy'])

    def metrics(self, params, data):
        return {"loss": self.value(params['xy'])}
'''

PROBLEM_FILE_ERRORS = {
    "metrics a scalar instead of [K]": (ROSENBROCK.replace("{\"loss\": self.value(params['xy'])}",
                                                           "{\"loss\": self.value(params['xy']).mean()}"),
                                        "metrics() gives loss as a tensor of shape [] for 2 configs; it must give "
                                        "one value per config, shape [K]"),
    "a vector loss": (ROSENBROCK.replace("return self.value(params['xy'])\n\n    def metrics",
                                         "return torch.stack([self.value(params['xy'])] * 3)\n\n    def metrics"),
                      "loss(params, batch) returned a tensor of shape [3]; it must return one config's loss as a "
                      "scalar tensor"),
    "shapes that disagree": (ROSENBROCK.replace('{"xy": (2,)}', '{"xy": (3,)}'),
                             "init_params() gives shapes {'xy': (2,)}, param_shapes() says {'xy': (3,)}"),
    "integer parameters": (ROSENBROCK.replace("torch.tensor([-1.0, 1.0])", "torch.tensor([-1, 1])"),
                           "parameters must be floating point"),
    "an error inside metrics": (ROSENBROCK.replace("return {\"loss\"", "return {\"loss\": data['nope'], \"x\""),
                                "metrics() raised KeyError: 'nope'"),
}


@pytest.mark.parametrize("case", PROBLEM_FILE_ERRORS)
def test_a_problem_that_breaks_the_api_is_one_line_naming_its_file_before_any_work(problem_folder, tmp_path,
                                                                                   no_computation, case):
    source, words = PROBLEM_FILE_ERRORS[case]
    assert source != ROSENBROCK
    (problem_folder / "rosen.py").write_text(source)
    (problem_folder / "bowl.py").write_text(GOOD.format(name="bowl"))
    result = CliRunner().invoke(main, ["run", "rosenbrock", "--optimizer", "adamw", "--out", str(tmp_path)])
    line = one_line_error(result)
    assert line.startswith(f"Error: problem rosenbrock ({problem_folder / 'rosen.py'}): ") and words in line, line
    assert not (tmp_path / "batches").exists()


@pytest.mark.parametrize("source, words", [
    (ROSENBROCK.replace("    def loss(self, params, batch):\n        return self.value(params['xy'])\n", ""),
     "problem Rosenbrock defines no loss(self, params, batch), the loss of one config as a scalar tensor; add it"),
    ("import sys\nsys.exit(3)\n", "it calls sys.exit(3) while loading; a problem file should only define problems"),
])
def test_a_problem_file_without_loss_or_that_exits_is_skipped_in_one_line(problem_folder, tmp_path, source, words):
    (problem_folder / "mine.py").write_text(source)
    (problem_folder / "bowl.py").write_text(GOOD.format(name="bowl"))
    listed = CliRunner().invoke(main, ["list"])
    assert listed.exit_code == 0 and "bowl:" in listed.output and "linear_regression" in listed.output
    (warning,) = warnings_of(listed)
    assert warning.startswith(f"Warning: skipped problem file {problem_folder / 'mine.py'}: ") and words in warning
    ran = CliRunner().invoke(main, ["run", "bowl", "--optimizer", "sgd", "--steps", "3", "--out", str(tmp_path)])
    assert ran.exit_code == 0, ran.output


SWEEP = ["sweep", "linear_regression", "--optimizer", "sgd", *TINY]


@pytest.mark.parametrize("args, words", [
    ([*SWEEP, "--lr", "1e-3", "--lr", "1e-2"], "--lr is given twice (--lr 1e-3 and --lr 1e-2); give it once"),
    (["run", "linear_regression", "--optimizer", "sgd", *TINY, "--lr=0.1", "--lr", "0.2"],
     "--lr is given twice (--lr 0.1 and --lr 0.2)"),
    ([*SWEEP, "--steps", "7"], "--steps is given twice (--steps 5 and --steps 7)"),
    ([*SWEEP, "-p", "d=4"], "--problem-opt d is given twice (d=3 and d=4); give each key once (a sweep takes a "
                            "list: --problem-opt d=3,4)"),
    ([*SWEEP, "-o", "momentum=0", "-o", "momentum=0.9"], "--opt momentum is given twice (momentum=0 and momentum=0.9)"),
    ([*SWEEP, "--schedule", "lr=cosine", "--schedule", "lr=linear"], "--schedule lr is given twice"),
    ([*SWEEP, "--lr", "1e-3:1e-1:1"], "--lr '1e-3:1e-1:1': a grid needs N >= 2 points (one learning rate: --lr 0.001)"),
    ([*SWEEP, "--lr", "-1e-3:1e-1:5"], "--lr '-1e-3:1e-1:5': the ends of a log grid LOW:HIGH:N must be finite and > 0"),
    ([*SWEEP, "--lr", "0:1e-1:5"], "must be finite and > 0"),
    ([*SWEEP, "--out", ""], "--out '' is empty; name a folder for the run folders"),
    ([*SWEEP, "--steps", "1.5e3"], "--steps 5 and --steps 1.5e3"),
    (["run", "linear_regression", "--optimizer", "sgd", "--steps", "2.5"], "'2.5' is not a positive integer"),
])
def test_repeated_and_degenerate_values_are_one_line_errors(tmp_path, no_computation, args, words):
    result = CliRunner().invoke(main, args if "--out" in args else [*args, "--out", str(tmp_path)])
    assert words in one_line_error(result)
    assert warnings_of(result) == [], "no other line (numpy's warning) before the error"


def test_out_a_batch_or_an_older_run_folder_is_an_error_naming_the_folder_of_runs(tmp_path, monkeypatch):
    assert CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", *TINY,
                                     "--out", str(tmp_path)]).exit_code == 0
    (batch,) = (tmp_path / "batches").iterdir()
    monkeypatch.setattr(engine, "run_batch", None)  # nothing may run
    result = CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", *TINY, "--out", str(batch)])
    assert not (batch / "batches").exists()
    assert f"--out {batch} is a batch of runs (it holds manifest.json); give the folder that holds its batches/, " \
           f"e.g. --out {tmp_path}" in one_line_error(result)
    folder = tmp_path / "0123456789abcdef"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    result = CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", *TINY, "--out", str(folder)])
    assert f"--out {folder} is a run folder (it holds config.json); give the folder that holds run folders, " \
           f"e.g. --out {tmp_path}" in one_line_error(result)


@pytest.mark.parametrize("value", ["abc", "0", "-2", " "])
def test_a_bad_toylab_threads_is_one_line_for_every_command(monkeypatch, value):
    monkeypatch.setenv("TOYLAB_THREADS", value)
    for args in (["list"], ["sweep", "linear_regression", "--optimizer", "sgd"]):
        line = one_line_error(CliRunner().invoke(main, args))
        assert line == f"Error: TOYLAB_THREADS={value!r} is not a positive integer; allowed: 1, 2, ... (default 1)"


def test_a_bad_toylab_threads_does_not_break_import():
    env = {**os.environ, "TOYLAB_THREADS": "abc"}
    done = subprocess.run([sys.executable, "-c", "import toylab.engine, toylab.cli"], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_toylab_problems_entry_that_is_not_a_folder_warns(problem_folder, monkeypatch, tmp_path, kind):
    entry = tmp_path / ("nothing" if kind == "missing" else "a_file.py")
    if kind == "file":
        entry.write_text("")
    monkeypatch.setenv("TOYLAB_PROBLEMS", os.pathsep.join([str(problem_folder), str(entry)]))
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    (warning,) = warnings_of(result)
    why = "does not exist" if kind == "missing" else "is a file, not a folder"
    assert warning.startswith(f"Warning: TOYLAB_PROBLEMS lists {entry}, which {why}") and "no problems are loaded" in warning


def test_list_says_where_problems_are_loaded_from_and_that_they_run(problem_folder):
    result = CliRunner().invoke(main, ["list"])
    assert f"problems are loaded from {Path(problems.__file__).resolve().parent.parent / 'problems'}, " \
           f"{problem_folder.resolve()}" in result.output
    assert "every .py there runs as Python code in list, run, sweep and summary" in result.output
    data = json.loads(CliRunner().invoke(main, ["list", "--json"]).output)
    assert data["problem_folders"][1] == str(problem_folder.resolve())


def test_save_with_an_unknown_format_or_an_unwritable_place_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("")
    CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", *TINY, "--out", str(tmp_path / "r")])
    (name,) = store.runs_in(tmp_path / "r")
    folder = tmp_path / "r" / name
    for save, words in [("x.xyz", "cannot write .xyz; use one of"), ("x", "cannot write a file without a suffix"),
                        (str(tmp_path / "a_file" / "x.png"), "--save")]:
        result = CliRunner().invoke(main, ["show", str(folder), "--plot", "metrics", "--save", save])
        assert words in one_line_error(result)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu_is_an_error_even_for_a_cached_run(tmp_path):
    args = ["run", "linear_regression", "--optimizer", "sgd", *TINY, "--out", str(tmp_path)]
    assert CliRunner().invoke(main, [*args, "--device", "cpu"]).exit_code == 0
    assert "no CUDA device" in one_line_error(CliRunner().invoke(main, [*args, "--device", "cuda"]))


@pytest.mark.parametrize("args, words", [
    (["run", "noise", "--optimizer", "muon", "--lr", "0.1", "--steps", "3"], "muon's lr acts on matrix parameters only"),
    (["run", "linear_regression", "--optimizer", "sgd", *TINY, "--probe", "moments"], "--probe moments records Adam"),
    (["run", "linear_regression", "--optimizer", "adamw", *TINY, "--probe", "moments", "-o", "nested_ema=true"],
     "with nested_ema"),
    (["sweep", "linear_regression", "--optimizer", "sgd", *TINY, "--shards", "2"], "--shards 2 has no effect"),
    (["run", "linear_regression", "--optimizer", "sgd", *TINY, "-o", "lr=0.1", "--lr", "0.2"], "--lr 0.2 overrides"),
    (["run", "linear_regression", "--optimizer", "adamw", *TINY, "--probe", "orthogonality"],
     "--probe orthogonality measures Muon's orthogonalizer on matrix parameters only and this run is adamw"),
    (["run", "noise", "--optimizer", "muon", "--steps", "3", "--probe", "orthogonality"], "has no matrix parameter"),
    (["run", "linear_regression", "--optimizer", "sgd", *TINY, "--schedule", "lr=cosine:warmup=5"],
     "the warmup of 5 steps is not shorter than the run (--steps 5), so lr never reaches its base value"),
    (["run", "linear_regression", "--optimizer", "sgd", *TINY, "--schedule", "lr=warmup:steps=9"],
     "the warmup of 9 steps"),
    (["sweep", "linear_regression", "--optimizer", "sgd", *TINY, "-o", "lr=0.1", "--lr", "0.2"], "--lr 0.2 overrides"),
])
def test_options_that_cannot_take_effect_warn_in_one_line(tmp_path, args, words):
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (warning,) = warnings_of(result)
    assert words in warning


def test_options_that_take_effect_do_not_warn(tmp_path):
    for args in (["run", "linear_regression", "--optimizer", "muon", "--lr", "0.1", *TINY],
                 ["run", "linear_regression", "--optimizer", "adamw", *TINY, "--probe", "moments"]):
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path)])
        assert result.exit_code == 0 and warnings_of(result) == [], result.output


def test_quick_on_a_spec_without_quick_warns(tmp_path):
    path = tmp_path / "demo" / "spec.toml"
    path.parent.mkdir()
    path.write_text(SPEC.replace("ns_steps = 5", "").split("[quick]")[0])
    result = CliRunner().invoke(main, ["report", "--quick", "--out", str(tmp_path / "out"), str(path)])
    assert result.exit_code == 0, result.output
    assert any("has no [quick] table" in w for w in warnings_of(result))


class FailingJob:
    def __init__(self, index):
        self.index = index

    def result(self):
        if self.index == 1:
            from submitit.core.utils import FailedJobError
            raise FailedJobError("Job failed:\nTraceback (most recent call last):\n  ...\nValueError: boom\n")
        return 3

    def cancel(self, check=True):
        pass


class FailingExecutor:
    folder = Path("/tmp/logs")

    def __init__(self, *args, **kwargs):
        self.jobs = 0

    def submit(self, fn, *args):
        self.jobs += 1
        return FailingJob(self.jobs - 1)


def test_a_failed_submitit_shard_is_one_line(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")  # the bench extra; a bare GPU image may lack it
    configs = [RunConfig("linear_regression", "sgd", {"d": 3, "D": 1}, steps=3)]
    with pytest.raises(Failure, match=r"^1 of 2 shards failed: shard 1/2 \(ValueError: boom\); logs in /tmp/logs$"):
        shards.launch(configs, tmp_path, 2, executor=FailingExecutor())
    monkeypatch.setattr(submitit, "AutoExecutor", FailingExecutor)
    result = CliRunner().invoke(main, ["sweep", "linear_regression", "--optimizer", "sgd", *TINY, "--launcher",
                                       "submitit", "--shards", "2", "--out", str(tmp_path)])
    assert "shard 1/2 (ValueError: boom)" in one_line_error(result, code=1)


def test_ctrl_c_during_a_command_is_one_line(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(engine, "run_batch", interrupted)
    result = CliRunner().invoke(main, ["run", "linear_regression", "--optimizer", "sgd", *TINY, "--out", str(tmp_path)])
    assert result.exit_code == 130 and result.output.strip() == "toylab: interrupted"


def interrupted(tmp_path, when) -> str:
    """stderr of `toylab run` (10⁸ steps) sent SIGINT at `when(process)`; checks the exit."""
    toylab = Path(sys.executable).with_name("toylab")
    command = [str(toylab), "run", "linear_regression", "--optimizer", "sgd", "--steps", "100000000",
               "--out", str(tmp_path / "runs")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    before = when(process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0 and "Traceback" not in before + err
    return before + err


@pytest.mark.parametrize("after", [0.25, 0.5, 1.0])
def test_ctrl_c_while_the_command_starts_is_one_line(tmp_path, after):
    """SIGINT `after` seconds from start: while numpy or torch is imported (an interrupted import
    used to leave numpy half loaded: a traceback, exit 1) or, on a fast machine, while it runs."""
    err = interrupted(tmp_path, lambda process: time.sleep(after) or "").strip().splitlines()
    assert err[-1] == "toylab: interrupted", err
    assert all(line.startswith("toylab: running") for line in err[:-1] if line), err


def test_ctrl_c_while_the_run_goes_on_is_one_line(tmp_path):
    """SIGINT once the run has begun (its first stderr line): one line after it, no traceback."""
    err = interrupted(tmp_path, lambda process: process.stderr.readline()).strip().splitlines()
    assert err[0].startswith("toylab: running 1 configs"), err
    assert [line for line in err[1:] if line] == ["toylab: interrupted"], err


def test_the_command_uses_one_torch_thread_unless_told_otherwise(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("TOYLAB_THREADS", raising=False)
        torch.set_num_threads(2)
        assert CliRunner().invoke(main, ["list"]).exit_code == 0
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("TOYLAB_THREADS", "2")
        assert CliRunner().invoke(main, ["list"]).exit_code == 0
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("TOYLAB_THREADS", "many")
        assert "TOYLAB_THREADS='many' is not a positive integer" in one_line_error(CliRunner().invoke(main, ["list"]))
    finally:
        torch.set_num_threads(before)


def test_check_writable_and_verify_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="not a writable folder"):
        store.check_writable(Path("/proc/toylab"))
    assert store.run_folders.verify(tmp_path / "nothing") == "does not exist"
    assert store.batch(tmp_path / "nothing") == (None, "does not exist")
