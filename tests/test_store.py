"""Run folders you never have to doubt: concurrent writers to one root, kills in the middle of
`--force`, and every corruption of a finished run (named in one line, recomputed, never trusted)."""
import json
import multiprocessing
import os
import random
import shutil
import signal
import time
import traceback
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from toylab import engine, shards, store, summarize
from toylab.cli import main
from toylab.config import RunConfig
from toylab.experiments import run_configs, summary
from toylab.grids import grid
from toylab.options import ToylabWarning

FORK = multiprocessing.get_context("fork")


def sweep(lrs=(1e-3, 1e-2, 1e-1, 1.0), seeds=(0, 1), probes=()):
    base = RunConfig("linear_regression", "sgd", {"d": 3, "D": 1}, steps=6, metric_every=3, probes=probes,
                     probe_every=3)
    return grid(base, {"hparams.lr": list(lrs), "seed": list(seeds)})


def hidden(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def assert_all_verify(root: Path, configs):
    problems = {c.hash(): store.verify(store.run_dir(root, c)) for c in configs}
    assert all(p is None for p in problems.values()), problems


def in_child(target, *args):
    """Run `target(*args)` in a forked process; a Python error there exits 1 with its traceback
    on stderr (a SIGKILL shows as exit code -9). A forked child cannot use CUDA once the parent
    has, so the children's runs name the CPU (on a GPU machine auto would pick CUDA)."""
    def body():
        try:
            target(*args)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    process = FORK.Process(target=body)
    process.start()
    return process


def no_computation(*args, **kwargs):
    raise AssertionError("a finished run was recomputed")


# ----- concurrent writers ------------------------------------------------------------------------------
def _writer(root, barrier, force):
    """Compute the sweep, wait for every writer, then publish all runs at the same moment, each
    rename a few random milliseconds late so that writers overtake each other."""
    publish, place = store.write_run, store._place
    waited = []

    def synchronised(*args, **kwargs):
        if not waited:
            waited.append(barrier.wait(timeout=60))
        return publish(*args, **kwargs)

    def late(build, path):
        time.sleep(random.uniform(0, 0.02))
        place(build, path)

    store.write_run, store._place = synchronised, late
    run_configs(sweep(), root, device="cpu", force=force)


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_writers_to_one_root_publish_every_run_once(tmp_path, round_):
    """Five processes write the same eight runs at once, one of them with --force, over a root
    that already holds one broken folder: none crashes and every run verifies."""
    root = tmp_path / "runs"
    configs = [c.resolve() for c in sweep()]
    broken = store.run_dir(root, configs[round_])
    broken.mkdir(parents=True)
    (broken / "status.json").write_text("{}")
    barrier = FORK.Barrier(5)
    writers = [in_child(_writer, root, barrier, i == 4) for i in range(5)]
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0] * 5
    assert_all_verify(root, configs)
    assert len([p for p in root.iterdir() if not p.name.startswith(".")]) == len(configs)
    assert hidden(root) == [], "no partial, aside or trash folder is left behind"
    table = summary(root, configs)
    assert len(table) == len(configs) and not table.attrs["missing"]


def _cli(args, log):
    result = CliRunner().invoke(main, args)
    log.write_text(result.output)
    os._exit(result.exit_code)


def test_cli_shards_and_a_duplicate_shard_at_once_in_separate_processes(tmp_path):
    """The user's scenario: shards 0/2 and 1/2 plus a second copy of 1/2 on one --out, each a
    process of its own, then the unsharded sweep recomputes nothing and lists every run."""
    args = ["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-3,1e-2,1e-1", "--seeds", "0-2",
            "-p", "d=3", "-p", "D=1", "--steps", "30", "--out", str(tmp_path / "runs"), "--device", "cpu"]
    logs = [tmp_path / f"shard{i}.log" for i in range(3)]
    shards = [in_child(_cli, args + ["--shard", s], log) for s, log in zip(("0/2", "1/2", "1/2"), logs)]
    for p in shards:
        p.join(120)
    outputs = [log.read_text() for log in logs]
    assert [p.exitcode for p in shards] == [0, 0, 0], outputs
    assert all("Traceback" not in out and "Error" not in out for out in outputs)
    whole = CliRunner().invoke(main, args)
    assert whole.exit_code == 0, whole.output
    assert "9 run folders in" in whole.output
    assert hidden(tmp_path / "runs") == []


def _batch_writer(root, barrier, shard, built):
    """Compute shard `shard` (of 2; None: the whole sweep) of a small AdamW sweep, keep a copy of
    every table it built under `built`, then publish once every writer has computed."""
    publish, waited = store.write_run, []

    def keep_and_publish(path, config, tables, status, **kwargs):
        if not waited:
            waited.append(barrier.wait(timeout=120))
        for name, frame in tables.items():
            (built / path.name).mkdir(parents=True, exist_ok=True)
            frame.reset_index(drop=True).to_parquet(built / path.name / f"{name}.parquet")
        return publish(path, config, tables, status, **kwargs)

    store.write_run = keep_and_publish
    configs = [c.resolve() for c in adamw_sweep()]
    run_configs(configs if shard is None else shards.select(configs, shard, 2), root, device="cpu")


def adamw_sweep():
    """8 lrs × 2 seeds of AdamW on d=8, D=2 in float32: its shards' batches round differently
    from the whole sweep's unless each config's products are its own (README, What is reproducible)."""
    base = RunConfig("linear_regression", "adamw", {"d": 8, "D": 2}, steps=40, metric_every=10,
                     probes=("norms",), probe_every=10)
    return grid(base, {"hparams.lr": [1e-3 * 1.93**i for i in range(8)], "seed": [0, 1]})


def test_writers_of_one_run_in_different_batches_publish_identical_tables(tmp_path):
    """The two shards and the whole sweep, at once on one root: every run is computed twice (in
    a shard's batch and in the whole one), and whichever copy is published first, the other
    writer's tables are the same bits."""
    root = tmp_path / "runs"
    barrier = FORK.Barrier(3)
    built = [tmp_path / f"built{i}" for i in range(3)]
    writers = [in_child(_batch_writer, root, barrier, shard, out) for shard, out in zip((0, 1, None), built)]
    for w in writers:
        w.join(300)
    assert [w.exitcode for w in writers] == [0, 0, 0]
    configs = [c.resolve() for c in adamw_sweep()]
    assert_all_verify(root, configs)
    for c in configs:
        copies = [folder / c.hash() for folder in built if (folder / c.hash()).exists()]
        assert len(copies) == 2, "a shard and the whole sweep each computed it"
        for copy in copies:
            for table in ("metrics", "norms"):
                pd.testing.assert_frame_equal(pd.read_parquet(copy / f"{table}.parquet"),
                                              pd.read_parquet(store.run_dir(root, c) / f"{table}.parquet"),
                                              check_exact=True)


# ----- kills -------------------------------------------------------------------------------------------
def _killed_at(point, root, force):
    """Re-run the sweep and SIGKILL this process at `point` of the first publication."""
    def kill(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if point == "building":  # the run's own folder half written
        pd.DataFrame.to_parquet = kill
    elif point == "aside":  # the old folder renamed aside, the new one not yet in place
        store._place = kill
    elif point == "placed":  # the new folder in place, the old one not yet deleted
        store._remove = kill
    run_configs(sweep(), root, device="cpu", force=force)


@pytest.mark.parametrize("force", [True, False])
def test_a_kill_at_any_point_of_publishing_loses_no_finished_run(tmp_path, monkeypatch, force):
    """With --force the old run is replaced; without, a broken one is. A SIGKILL while building,
    after moving the old folder aside, or after placing the new one: afterwards every run
    verifies, and no finished run has to be recomputed."""
    root = tmp_path / "runs"
    configs = run_configs(sweep(), root, device="cpu")
    for point in ("building", "aside", "placed"):
        if not force:  # without --force only a broken folder is replaced: break one
            (store.run_dir(root, configs[0]) / "metrics.parquet").write_bytes(b"")
        child = in_child(_killed_at, point, root, force)
        child.join(60)
        assert child.exitcode == -signal.SIGKILL, point
        if force:
            monkeypatch.setattr(engine, "run_batch", no_computation)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ToylabWarning)
            run_configs(sweep(), root, device="cpu")
        monkeypatch.undo()
        assert_all_verify(root, configs)


def test_a_killed_writers_partial_folder_is_swept_by_the_next_command(tmp_path):
    """A writer killed while building leaves `.<hash>.<random>.<owner>.partial`; the next command
    that writes into the root sweeps it at once, as its owner is gone, and keeps the partial
    folders of a live writer (this process) and of a writer on another host (an hour's grace)."""
    root = tmp_path / "runs"
    configs = run_configs(sweep(), root, device="cpu")
    child = in_child(_killed_at, "building", root, True)
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    (left,) = [name for name in hidden(root) if name.endswith(".partial")]
    assert f".{child.pid}." in left
    live = root / f".{configs[0].hash()}.0000000a.{store._owner()}.partial"
    remote = root / f".{configs[1].hash()}.0000000b.{child.pid}.1.elsewhere.example.partial"
    live.mkdir()
    remote.mkdir()
    run_configs(sweep(), root, device="cpu")  # every run is finished: nothing to compute
    assert hidden(root) == sorted([live.name, remote.name])


# ----- corruptions --------------------------------------------------------------------------------------
def _json(value):
    return lambda f, other: (f / "status.json").write_text(json.dumps(value))


def _edit_status(**fields):
    def edit(f, other):
        status = json.loads((f / "status.json").read_text())
        (f / "status.json").write_text(json.dumps({**status, **fields}))
    return edit


def _truncate(name):
    return lambda f, other: (f / name).write_bytes((f / name).read_bytes()[:40])


def _random(name):
    return lambda f, other: (f / name).write_bytes(os.urandom((f / name).stat().st_size))


def _write(name, content):
    return lambda f, other: (f / name).write_text(content)


def _delete(name):
    return lambda f, other: (f / name).unlink()


def _other_run(name):
    return lambda f, other: shutil.copy(other / name, f / name)


def _replace_by_file(f, other):
    shutil.rmtree(f)
    f.write_text("not a folder")


def _rewrite_metrics(keep):
    """Replace the metrics table by its rows where `keep(table)`, with status.json's size and sha256
    updated to match: a consistent edit that only the tables' content can contradict."""
    def edit(f, other):
        table = pd.read_parquet(f / "metrics.parquet")
        table[keep(table)].reset_index(drop=True).to_parquet(f / "metrics.parquet")
        status = json.loads((f / "status.json").read_text())
        status["tables"]["metrics.parquet"] = {"bytes": (f / "metrics.parquet").stat().st_size,
                                               "sha256": store.file_sha256(f / "metrics.parquet")}
        (f / "status.json").write_text(json.dumps(status))
    return edit


def _relist(old, new):
    """Rename table `old` to `new` and list it so in status.json (checksums intact)."""
    def edit(f, other):
        (f / old).rename(f / new)
        status = json.loads((f / "status.json").read_text())
        status["tables"][new] = status["tables"].pop(old)
        (f / "status.json").write_text(json.dumps(status))
    return edit


def _other_lr(f, other):
    (f / "config.json").write_text((f / "config.json").read_text().replace('"lr": 0.01', '"lr": 0.02'))


CORRUPTIONS = {
    "metrics truncated": _truncate("metrics.parquet"),
    "metrics emptied": _write("metrics.parquet", ""),
    "metrics random bytes, same size": _random("metrics.parquet"),
    "metrics deleted": _delete("metrics.parquet"),
    "metrics of another run": _other_run("metrics.parquet"),
    "probe table deleted": _delete("norms.parquet"),
    "probe table of another run": _other_run("norms.parquet"),
    "unlisted table added": lambda f, other: shutil.copy(f / "norms.parquet", f / "spectra.parquet"),
    "status truncated": _truncate("status.json"),
    "status emptied": _write("status.json", ""),
    "status random bytes": _random("status.json"),
    "status deleted": _delete("status.json"),
    "status []": _json([]),
    "status {}": _json({}),
    "status running": _edit_status(status="running"),
    "status bad diverged_step": _edit_status(diverged_step="x"),
    "status bad seconds": _edit_status(seconds="slow"),
    "status without checksums (older toylab)": _edit_status(tables=None),
    "status with a wrong checksum": _edit_status(tables={"metrics.parquet": {"bytes": 1, "sha256": "0"}}),
    "status of another run": _other_run("status.json"),
    "status diverged early, finite metrics to the end": _edit_status(diverged_step=2),
    "status diverged after the last step": _edit_status(diverged_step=100),
    "metrics cut short, checksums updated": _rewrite_metrics(lambda t: t["step"] <= 3),
    "metrics without a step, checksums updated": _rewrite_metrics(lambda t: t["step"] != 3),
    "a table of no probe of the config, listed": _relist("norms.parquet", "spectra.parquet"),
    "config truncated": _truncate("config.json"),
    "config emptied": _write("config.json", ""),
    "config deleted": _delete("config.json"),
    "config of another run": _other_run("config.json"),
    "config with another lr": _other_lr,
    "a file in place of the folder": _replace_by_file,
    "an empty folder": lambda f, other: [p.unlink() for p in f.iterdir()],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Two finished runs with a probe table, and their metrics as computed."""
    root = tmp_path_factory.mktemp("finished")
    configs = run_configs(sweep(lrs=(1e-2,), probes=("norms",)), root, device="cpu")
    return root, configs, summary(root, configs)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_is_named_in_one_line_recomputed_and_never_trusted(tmp_path, finished, name):
    source, configs, expected = finished
    root = tmp_path / "runs"
    shutil.copytree(source, root)
    folder, other = store.run_dir(root, configs[0]), store.run_dir(root, configs[1])
    CORRUPTIONS[name](folder, other)

    assert store.verify(folder) is not None
    if folder.is_dir():
        shown = CliRunner().invoke(main, ["show", str(folder)])
        assert shown.exit_code == 2 and "Traceback" not in shown.output
        assert shown.output.startswith(f"Error: {folder}: ") and len(shown.output.splitlines()) == 1

    with pytest.warns(ToylabWarning) as caught:
        run_configs(sweep(lrs=(1e-2,), probes=("norms",)), root, device="cpu")
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(f"run folder {folder}: ") and message.endswith("recomputing it")
    assert "\n" not in message
    assert_all_verify(root, configs)
    pd.testing.assert_frame_equal(summary(root, configs), expected)
    assert hidden(root) == []


def _diverged_runs(root):
    """Two runs of 8 steps, metrics every step, that diverge (lr = 1000), and their steps."""
    configs = run_configs(grid(RunConfig("linear_regression", "sgd", {"d": 3, "D": 1}, {"lr": 1e3}, steps=8,
                                         metric_every=1), {"seed": [0, 1]}), root, device="cpu")
    steps = [store.read_status(store.run_dir(root, c))["diverged_step"] for c in configs]
    assert all(s is not None and s < 8 for s in steps)
    return configs, steps


@pytest.mark.parametrize("claim", ["never", "one step later", "one step earlier"])
def test_a_diverged_step_the_metrics_contradict_is_not_trusted(tmp_path, claim):
    configs, steps = _diverged_runs(tmp_path)
    folder = store.run_dir(tmp_path, configs[0])
    shift = {"never": None, "one step later": steps[0] + 1, "one step earlier": steps[0] - 1}[claim]
    assert shift != 0, "the run should diverge after its first step"
    _edit_status(diverged_step=shift)(folder, None)
    assert "status.json says the run" in store.verify(folder)
    with pytest.warns(ToylabWarning, match="recomputing it"):
        run_configs(configs, tmp_path, device="cpu")
    assert store.read_status(folder)["diverged_step"] == steps[0]


def test_an_edited_diverged_step_is_neither_shown_nor_reused(tmp_path):
    """The issue's case: diverged_step set to 5 in a 50-step run with finite metrics to the end."""
    args = ["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-2", "-p", "d=3", "-p", "D=1",
            "--steps", "50", "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    _edit_status(diverged_step=5)(folder, None)
    shown = CliRunner().invoke(main, ["show", str(folder)])
    assert shown.exit_code == 2 and len(shown.output.splitlines()) == 1
    assert "diverged at step 5, but metrics.parquet has values at step 10" in shown.output
    rerun = CliRunner().invoke(main, args)
    assert rerun.exit_code == 0 and "recomputing it" in rerun.output
    assert store.read_status(folder)["diverged_step"] is None


def test_the_summary_lists_a_run_it_cannot_read_and_keeps_diverged_runs(tmp_path):
    configs = run_configs(sweep(lrs=(1e-2, 1e3)), tmp_path, device="cpu")  # lr = 1000 diverges
    table = summary(tmp_path, configs)
    assert len(table) == 4 and not table.attrs["missing"]
    assert table["diverged_step"].notna().sum() == 2 and table["loss"].isna().sum() == 2
    only_diverged = summary(tmp_path, [c for c in configs if c.hparams["lr"] == 1e3])
    assert len(only_diverged) == 2 and "loss" in only_diverged, "an all-diverged summary keeps its columns"
    (store.run_dir(tmp_path, configs[0]) / "metrics.parquet").unlink()  # e.g. a concurrent writer's window
    table = summary(tmp_path, configs)
    assert len(table) == 4 and table.attrs["missing"] == [str(store.run_dir(tmp_path, configs[0]))]


def test_a_sweep_whose_metrics_cannot_be_read_says_which_runs_are_missing(tmp_path, monkeypatch):
    args = ["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-3,1e-2", "-p", "d=3", "-p", "D=1",
            "--steps", "5", "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    real = summarize.load
    monkeypatch.setattr(summarize, "load", lambda folders, table="metrics": real(sorted(folders)[1:], table))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "1 of 2 runs have no readable metrics" in result.output


# ----- reports ------------------------------------------------------------------------------------------
SPEC = """
title = "Demo"
claim = "C13"
question = "Which lr fits a small regression best?"
analysis = "learning_curves"
steps = 10
seeds = [0, 1]
[[problems]]
name = "linear_regression"
d = 3
D = 1
[[optimizers]]
name = "sgd"
lr = [1e-3, 1e-2, 1e-1]
"""


def _render(spec, out):
    from toylab.report import render_all
    render_all([spec], out=out, device="cpu")


def test_two_renders_of_one_spec_at_once_both_succeed_with_whole_files(tmp_path):
    spec = tmp_path / "specs" / "demo" / "spec.toml"
    spec.parent.mkdir(parents=True)
    spec.write_text(SPEC)
    for _ in range(2):
        renders = [in_child(_render, spec, tmp_path / "out") for _ in range(3)]
        for r in renders:
            r.join(120)
        assert [r.exitcode for r in renders] == [0, 0, 0]
        folder = tmp_path / "out" / "demo"
        names = {p.name for p in folder.iterdir()}
        assert {"report.md", "summary.csv", "summary.md"} <= names and hidden(folder) == []
        pngs = [n for n in names if n.endswith(".png")]
        assert pngs and all(n.replace(".png", ".svg") in names for n in pngs)
        assert all(f"({n})" in (folder / "report.md").read_text() for n in pngs)
        assert (folder / "report.md").read_text().startswith("# Demo") and "## Verdict" in (folder / "report.md").read_text()
        assert (tmp_path / "out" / "index.html").read_text().rstrip().endswith("</html>")
        assert hidden(tmp_path / "out" / "runs") == []
