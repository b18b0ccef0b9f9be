"""The command line: runs, sweeps, caching and one-line errors for bad input."""
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from toylab import store, summarize
from toylab.cli import main

FAST = ["-p", "d=4", "-p", "D=2", "--steps", "20", "--metric-every", "5"]


@pytest.fixture
def cli(tmp_path):
    def invoke(*args):
        return CliRunner().invoke(main, [*args, "--out", str(tmp_path / "runs")] if args[0] in ("run", "sweep")
                                  else list(args))
    invoke.runs = tmp_path / "runs"
    return invoke


def test_list_shows_problems_optimizers_and_defaults(cli):
    out = cli("list").output
    for word in ["linear_regression", "adamw", "sgd", "signsgd", "muon", "condition_number", "default 0.001"]:
        assert word in out


def test_run_writes_a_complete_run_folder(cli):
    result = cli("run", "linear_regression", "--optimizer", "adamw", "--lr", "1e-2", *FAST)
    assert result.exit_code == 0, result.output
    assert "excess_loss" in result.output and "adamw lr=0.01" in result.output
    (run,) = store.runs_in(cli.runs).values()
    assert run.config["hparams"]["lr"] == 0.01 and run.config["problem_options"]["d"] == 4
    assert run.status["status"] == "finished" and run.tables == ("metrics",)
    assert (run.where / "metrics.parquet").exists() and run.where.parent == cli.runs / "batches"


def test_sweep_runs_the_product_and_caches(cli):
    args = ["sweep", "linear_regression", "--optimizer", "adamw,sgd", "--lr", "1e-3,1e-2",
            "--seeds", "0-1", "-o", "weight_decay=0,0.1", *FAST]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    stamps = {name: run.where for name, run in store.runs_in(cli.runs).items()}
    assert len(stamps) == 2 * 2 * 2 * 2
    assert cli(*args).exit_code == 0
    assert stamps == {name: run.where for name, run in store.runs_in(cli.runs).items()}, "finished runs not redone"


def test_sweep_pairs_use_semicolons(cli):
    result = cli("sweep", "linear_regression", "--optimizer", "adamw", "-o", "betas=0.9,0.95;0.95,0.95", *FAST)
    assert result.exit_code == 0, result.output
    assert len(store.runs_in(cli.runs)) == 2


def test_interrupted_run_is_recomputed(cli):
    cli("run", "linear_regression", "--optimizer", "sgd", *FAST)
    (run,) = store.runs_in(cli.runs).values()
    (run.where / "metrics.parquet").write_bytes(b"")  # as if a disk lost its last writes
    result = cli("run", "linear_regression", "--optimizer", "sgd", *FAST)
    assert result.exit_code == 0 and "recomputing its runs" in result.output
    assert store.runs_in(cli.runs)[run.name].where != run.where


@pytest.mark.parametrize("args, words", [
    (["run", "nope", "--optimizer", "adamw"], "valid problems: diabetes, digits_mlp, digits_softmax, linear_regression"),
    (["run", "linear_regression", "--optimizer", "adamx"], "valid optimizers: adamw"),
    (["run", "linear_regression", "--optimizer", "adamw", "-o", "betas=0.9,1.5"], "betas"),
    (["run", "linear_regression", "--optimizer", "adamw", "--lr", "-1"], "lr=-1.0"),
    (["run", "linear_regression", "--optimizer", "adamw", "-o", "bogus=1"], "valid options"),
    (["run", "linear_regression", "--optimizer", "adamw", "-p", "d=x"], "d='x' is not an integer"),
    (["run", "linear_regression", "--optimizer", "adamw", "--steps", "0"], "steps"),
    (["sweep", "linear_regression", "--optimizer", "sgd", "--seeds", "a-b"], "--seeds"),
    (["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-3,x"], "--lr"),
    (["run", "linear_regression", "--optimizer", "sgd", "-o", "nesterov=true"], "nesterov"),
])
def test_bad_input_is_one_line_without_traceback(cli, args, words):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert sum(line.startswith("Error") for line in result.output.splitlines()) == 1


def test_run_with_probes_then_show_and_plot(cli, tmp_path):
    result = cli("run", "linear_regression", "--optimizer", "adamw", *FAST, "--probe", "norms,spectra,moments",
                 "--probe-every", "5")
    assert result.exit_code == 0, result.output
    (name,) = store.runs_in(cli.runs)
    folder = cli.runs / name
    shown = cli("show", str(folder))
    assert shown.exit_code == 0, shown.output
    for word in ["adamw", "status: finished", "final metrics", "excess_loss=", "spectra: ", "kl_pq"]:
        assert word in shown.output
    for what in ["metrics", "norms:rms_weights", "spectra:direction", "moments"]:
        figure = tmp_path / f"{what.replace(':', '_')}.png"
        drawn = cli("show", str(folder), "--plot", what, "--save", str(figure))
        assert drawn.exit_code == 0, drawn.output
        assert figure.read_bytes()[:4] == b"\x89PNG"
    missing = cli("show", str(folder), "--plot", "spectra:nothing", "--save", str(tmp_path / "x.png"))
    assert missing.exit_code != 0 and "choose one of" in missing.output
    assert cli("show", str(folder), "--plot", "norms").exit_code != 0


def test_unknown_probe_is_one_line_error(cli):
    result = cli("run", "linear_regression", "--optimizer", "sgd", *FAST, "--probe", "norms,spectrum")
    assert result.exit_code != 0 and "valid probes: ceiling, moments, norms, orthogonality, spectra" in result.output
    assert "Traceback" not in result.output

def _folders(root):
    return sorted(store.runs_in(root))


def _optimizers(root, names):
    runs = store.runs_in(root)
    return {runs[n].config["optimizer"] for n in names}


@pytest.mark.parametrize("sweep_args, whole_groups", [
    (["--optimizer", "adamw,sgd,signsgd", "--lr", "1e-3,1e-2"], True),  # 3 batch groups >= 2 shards
    (["--optimizer", "sgd", "-o", "momentum=0,0.9", "--lr", "1e-3,1e-2"], False),  # one group, split
])
def test_shards_together_make_exactly_the_unsharded_sweep(tmp_path, sweep_args, whole_groups):
    def sweep(out, *args):
        result = CliRunner().invoke(main, ["sweep", "linear_regression", *sweep_args, "--seeds", "0-1", *FAST,
                                           *args, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    sweep("whole")
    sweep("sharded", "--shard", "0/2")
    first = _folders(tmp_path / "sharded")
    sweep("sharded", "--shard", "1/2")
    everything = _folders(tmp_path / "sharded")
    assert 0 < len(first) < len(everything)
    assert everything == _folders(tmp_path / "whole")
    if whole_groups:
        second = sorted(set(everything) - set(first))
        assert not _optimizers(tmp_path / "sharded", first) & _optimizers(tmp_path / "sharded", second)


@pytest.mark.parametrize("value", ["2/2", "1", "a/b", "-1/2", "0/0"])
def test_bad_shard_is_a_one_line_usage_error(cli, value):
    result = cli("sweep", "linear_regression", "--optimizer", "sgd", *FAST, "--shard", value)
    assert result.exit_code == 2 and f"--shard {value!r}" in result.output
    assert "Traceback" not in result.output


def test_bench_command_passes_its_options_through(cli):
    result = cli("bench", "--help")
    assert result.exit_code == 0 and "--quick" in result.output


STARTUP = """
import sys
from click.testing import CliRunner
from toylab.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
print(result.exit_code, "torch" in sys.modules)
"""


@pytest.mark.parametrize("args, code", [
    (["--help"], 0),
    (["sweep", "--help"], 0),
    (["sweep"], 2),  # a usage error: no PROBLEM
    (["sweep", "linear_regression", "--optimizer", "sgd", "--steps", "x"], 2),
    (["sweep", "linear_regression", "--optimizer", "sgd", "--seeds", "x"], 2),  # bad values
    (["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-3:1e-1:1"], 2),
    (["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-3", "--lr", "1e-2"], 2),
])
def test_help_usage_errors_and_bad_values_do_not_import_torch(args, code):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", STARTUP, *args], capture_output=True, text=True)
    assert done.stdout.split() == [str(code), "False"], done.stdout + done.stderr


def test_the_closing_hint_of_a_sweep_over_weight_decay_draws_its_runs(cli, tmp_path, monkeypatch):
    """The README's second example, small: runs differ in weight_decay, so a plain `toylab plot`
    would stop at runs that share an optimizer; the hinted command facets by it."""
    result = cli("sweep", "linear_regression", "--optimizer", "adamw,sgd", "--lr", "1e-3,1e-2", "--seeds", "0-1",
                 "-o", "weight_decay=0,0.1", *FAST)
    assert result.exit_code == 0, result.output
    (hint,) = [line for line in result.output.splitlines() if line.startswith("figures: ")]
    command = shlex.split(hint.removeprefix("figures: "))
    assert command == ["toylab", "plot", str(cli.runs), "--col", "weight_decay", "--save", "plot.png"]
    monkeypatch.chdir(tmp_path)
    drawn = CliRunner().invoke(main, command[1:])
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_the_summary_of_the_readme_sweep_fits_100_columns(cli):
    result = cli("sweep", "linear_regression", "--optimizer", "adamw,sgd,signsgd,muon", "--lr", "1e-4:1:5",
                 "--seeds", "0-1", "-o", "weight_decay=0,0.1", *FAST)
    assert result.exit_code == 0, result.output
    printed = [line for line in result.output.splitlines() if str(cli.runs) not in line]  # not the paths
    assert max(map(len, printed)) <= 100, result.output
    assert "(also in --format csv or json: " in result.output, "what did not fit is named"


def test_intervals_of_a_positive_metric_are_log_space_and_stay_positive():
    """Final losses 0.01, 0.02, 1: mean ± 2 s.e. = 0.3433 [−0.2152, 0.9019]; the table gives the
    geometric mean ×/÷ exp(2 s.e. of the logs), as the plots' log-space bands do (toylab/plotting.py).
    A metric that takes either sign keeps the arithmetic interval."""
    finals = {"loss": [0.01, 0.02, 1.0], "signed": [-1.0, 0.5, 2.0]}
    rows = [{"run": f"r{seed}", "seed": seed, "optimizer": "sgd", "lr": 0.1, "problem": "p", "metric": metric,
             "step": step, "value": v if step else 5.0, "diverged_step": None, "diverged": False}
            for metric, values in finals.items() for seed, v in enumerate(values) for step in (0, 1)]
    table = summarize.aggregate(pd.DataFrame(rows))
    logs = np.log(finals["loss"])
    half = 2 * logs.std(ddof=1) / np.sqrt(3)
    assert table.loc[0, ["loss", "loss_low", "loss_high"]].tolist() == pytest.approx(
        np.exp([logs.mean(), logs.mean() - half, logs.mean() + half]), rel=1e-12)
    signed = np.array(finals["signed"])
    half = 2 * signed.std(ddof=1) / np.sqrt(3)
    assert table.loc[0, ["signed", "signed_low", "signed_high"]].tolist() == pytest.approx(
        [signed.mean(), signed.mean() - half, signed.mean() + half], rel=1e-12)
    text = summarize.format_table(table)
    assert "loss (geo. mean [×/÷ 2 s.e.])" in text and "0.05848 [0.003325, 1.028]" in text


def test_the_command_exits_with_its_status_its_whole_output_and_its_results(tmp_path):
    """`toylab` leaves without Python's teardown (`cli.command`): its output to a pipe arrives
    whole (32 kB of JSON), the status is click's, and the runs it published read back elsewhere."""
    toylab = str(Path(sys.executable).with_name("toylab"))
    listed = subprocess.run([toylab, "list", "--json"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "adamw" in json.loads(listed.stdout)["optimizers"], listed.stderr
    runs = tmp_path / "runs"
    swept = subprocess.run([toylab, "sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-3,1e-2",
                            *FAST, "--out", str(runs)], capture_output=True, text=True, timeout=120)
    assert swept.returncode == 0 and swept.stdout.rstrip().endswith("--format csv"), swept.stderr
    assert sorted(run.config["hparams"]["lr"] for run in store.runs_in(runs).values()) == [1e-3, 1e-2]
    bad = subprocess.run([toylab, "sweep", "linear_regression", "--optimizer", "bogus"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "Error: unknown optimizer 'bogus'; valid optimizers: adamw, muon, sgd, signsgd"]


EXIT_SCRIPT = """
import atexit, sys, threading, time
import toylab.cli as cli
def main():
    atexit.register(lambda: print("exit handler ran", flush=True))
    if sys.argv[1] == "thread":  # a non-daemon thread that finishes after main: Python's exit waits for it
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished", flush=True))).start()
    sys.exit(3)
cli.main = main
cli.command()
"""


@pytest.mark.parametrize("case", ["plain", "thread"])
def test_the_fast_exit_runs_exit_handlers_and_waits_for_threads(case):
    """`cli.command` keeps what Python's exit promises: the status, the `atexit` handlers, and a
    non-daemon thread still running is waited for (it then takes Python's own exit)."""
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, case], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and "exit handler ran" in done.stdout, (done.stdout, done.stderr)
    assert ("thread finished" in done.stdout) == (case == "thread"), done.stdout
