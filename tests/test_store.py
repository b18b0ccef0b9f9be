"""The store you never have to doubt: runs published per batch, concurrent writers to one root,
kills in the middle of publishing, every corruption of a published batch (named in one line,
recomputed, never trusted), `--force`, two copies of one hash, and run folders of older versions."""
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

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
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
    """Hidden entries (partial builds, trash) of the root and of its batches/."""
    return sorted(p.name for folder in (root, root / "batches") if folder.is_dir()
                  for p in folder.iterdir() if p.name.startswith("."))


def batches(root: Path) -> list[Path]:
    return sorted((root / "batches").iterdir()) if (root / "batches").is_dir() else []


def assert_all_verify(root: Path, configs):
    index = store.Index(root)
    missing = {c.hash(): index.problems([c.hash()]) for c in configs if index.find(c.hash()) is None}
    assert not missing, missing


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


# ----- one batch per engine call ------------------------------------------------------------------------
def test_a_sweep_is_one_batch_and_a_subset_reads_only_the_batches_that_hold_it(tmp_path, monkeypatch):
    """Eight configs in one engine call: one batch folder with one file per table (every run's rows,
    a `run` column) and a manifest of the eight hashes. A second sweep adds a second batch; reading
    two runs of the first reads that batch's file alone, filtered to their rows, and gives the
    rows a whole read gives them."""
    root = tmp_path / "runs"
    configs = run_configs(sweep(probes=("norms",)), root, device="cpu")
    (first,) = batches(root)
    assert sorted(p.name for p in first.iterdir()) == ["manifest.json", "metrics.parquet", "norms.parquet"]
    manifest = json.loads((first / "manifest.json").read_text())
    assert sorted(manifest["runs"]) == sorted(c.hash() for c in configs)
    assert set(pq.read_table(first / "metrics.parquet")["run"].to_pylist()) == set(manifest["runs"])
    others = run_configs(sweep(lrs=(3e-3,), probes=("norms",)), root, device="cpu")
    assert len(batches(root)) == 2
    whole = store.load_table(root, configs + others, "norms")
    read, real = [], pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda path, **kw: read.append((Path(path), kw["filters"])) or real(path, **kw))
    subset = store.load_table(root, configs[2:4], "norms")
    assert read == [(first / "norms.parquet", [("run", "in", [c.hash() for c in configs[2:4]])])]
    expected = whole[whole["run"].isin([c.hash() for c in configs[2:4]])].reset_index(drop=True)
    assert subset["diverged_step"].isna().all() and expected["diverged_step"].isna().all()  # None or NaN
    pd.testing.assert_frame_equal(subset.drop(columns="diverged_step"), expected.drop(columns="diverged_step"))


def test_force_publishes_a_batch_that_supersedes_the_old_one_which_is_then_deleted(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    configs = run_configs(sweep(), root, device="cpu")
    expected = summary(root, configs)
    (old,) = batches(root)
    keep = tmp_path / "old"
    shutil.copytree(old, keep)
    run_configs(sweep()[:3], root, device="cpu", force=True)
    new, = [b for b in batches(root) if b != old]
    assert old.exists(), "five of its eight runs have no newer copy"
    assert {store.find_run(root / c.hash()).where for c in configs} == {old, new}
    run_configs(sweep(), root, device="cpu", force=True)
    (newest,) = batches(root)
    assert newest.name > new.name > old.name, "each later batch supersedes, and the superseded are deleted"
    shutil.copytree(keep, old)  # as if the writer was killed between publishing and deleting
    assert {store.find_run(root / c.hash()).where for c in configs} == {newest}, "the newest copy names the result"
    monkeypatch.setattr(engine, "run_batch", no_computation)
    run_configs(sweep(), root, device="cpu")
    pd.testing.assert_frame_equal(summary(root, configs), expected)


def test_of_two_copies_of_a_hash_a_broken_newer_one_falls_back_to_the_older(tmp_path, monkeypatch):
    """Two batches that hold the same runs (two writers at once, or a force killed before it
    deleted the old): the newer one breaks, the older verified copy is read, nothing recomputed."""
    root = tmp_path / "runs"
    configs = run_configs(sweep(), root, device="cpu")
    expected = summary(root, configs)
    (old,) = batches(root)
    newer = old.with_name(f"{int(old.name.split('-')[0]) + 1:020d}-ffffffff")
    shutil.copytree(old, newer)
    assert {store.find_run(root / c.hash()).where for c in configs} == {newer}
    (newer / "metrics.parquet").write_bytes(b"")
    assert {store.find_run(root / c.hash()).where for c in configs} == {old}
    monkeypatch.setattr(engine, "run_batch", no_computation)
    run_configs(sweep(), root, device="cpu")
    pd.testing.assert_frame_equal(summary(root, configs), expected)


def _as_run_folder(run: store.Run, folder: Path) -> None:
    """Write `run` as an older toylab wrote it: config.json, one parquet per table, status.json
    (written last) with each table's size and sha256 and the source hashes."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(run.config))
    tables = {}
    for table in run.tables:
        store.read([run], table).drop(columns="run").to_parquet(folder / f"{table}.parquet")
        tables[f"{table}.parquet"] = {"bytes": (folder / f"{table}.parquet").stat().st_size,
                                      "sha256": store.file_sha256(folder / f"{table}.parquet")}
    sources = json.loads((run.where / "manifest.json").read_text())["sources"]
    (folder / "status.json").write_text(json.dumps({**run.status, "tables": tables, "sources": sources}))


def test_run_folders_of_an_older_toylab_are_read_shown_and_superseded_by_force(tmp_path, monkeypatch):
    """A root of run folders `<root>/<hash>/` (the format before batches): the sweep reuses them,
    its summary, `toylab show/summary/plot` read them, and --force replaces them by a batch."""
    made, root = tmp_path / "made", tmp_path / "runs"
    configs = run_configs(sweep(probes=("norms",)), made, device="cpu")
    expected = summary(made, configs)
    for run in store.runs_in(made).values():
        _as_run_folder(run, root / run.name)
    assert all(store.run_folders.verify(root / c.hash()) is None for c in configs)
    with monkeypatch.context() as m:
        m.setattr(engine, "run_batch", no_computation)
        run_configs(sweep(probes=("norms",)), root, device="cpu")
    assert not (root / "batches").exists()
    pd.testing.assert_frame_equal(summary(root, configs), expected)
    pd.testing.assert_frame_equal(store.load_table(root, configs, "norms"), store.load_table(made, configs, "norms"))
    shown = CliRunner().invoke(main, ["show", str(root / configs[0].hash())])
    assert shown.exit_code == 0 and "norms: " in shown.output and f"in {root / configs[0].hash()}" in shown.output
    for args in (["summary", str(root)], ["summary", str(root / configs[0].hash()), str(root / configs[1].hash())],
                 ["plot", str(root), "--save", str(tmp_path / "p.png")]):
        assert CliRunner().invoke(main, args).exit_code == 0, args
    run_configs(sweep(probes=("norms",))[:2], root, device="cpu", force=True)
    assert not (root / configs[0].hash()).exists() and (root / configs[2].hash()).exists()
    assert {store.find_run(root / c.hash()).in_batch for c in configs} == {True, False}
    pd.testing.assert_frame_equal(summary(root, configs), expected)


def test_show_summary_and_plot_take_any_subset_of_runs_and_batches(tmp_path):
    root = tmp_path / "runs"
    configs = run_configs(sweep(), root, device="cpu")
    run_configs(sweep(lrs=(3e-3,)), root, device="cpu")
    first = store.find_run(root / configs[0].hash()).where
    table = lambda *paths: summarize.load(list(paths))  # noqa: E731
    assert set(table(root)["run"]) == set(store.runs_in(root)) and len(store.runs_in(root)) == 10
    assert set(table(first)["run"]) == {c.hash() for c in configs}
    assert set(table(root / configs[0].hash(), root / configs[5].hash())["run"]) == {configs[0].hash(), configs[5].hash()}
    for args in (["show", str(first)], ["show", str(root / configs[3].hash())],
                 ["summary", str(root / configs[0].hash()), str(root / configs[1].hash())]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    unknown = CliRunner().invoke(main, ["show", str(root / "0123456789abcdef")])
    assert unknown.exit_code == 2 and "no such run" in unknown.output


# ----- concurrent writers ------------------------------------------------------------------------------
def _writer(root, barrier, force):
    """Compute the sweep, wait for every writer, then publish all batches at the same moment, each
    rename a few random milliseconds late so that writers overtake each other."""
    publish, place = store.write_batch, store._place
    waited = []

    def synchronised(*args, **kwargs):
        if not waited:
            waited.append(barrier.wait(timeout=60))
        return publish(*args, **kwargs)

    def late(build, path):
        time.sleep(random.uniform(0, 0.02))
        place(build, path)

    store.write_batch, store._place = synchronised, late
    run_configs(sweep(), root, device="cpu", force=force)


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_writers_to_one_root_publish_every_run(tmp_path, round_):
    """Five processes write the same eight runs at once, one of them with --force, over a root
    that already holds one broken batch: none crashes, every run verifies, no run is in more
    than two verified batches, and what superseded batches remain are the older ones."""
    root = tmp_path / "runs"
    configs = [c.resolve() for c in sweep()]
    broken = root / "batches" / f"{round_:020d}-00000000"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{}")
    barrier = FORK.Barrier(5)
    writers = [in_child(_writer, root, barrier, i == 4) for i in range(5)]
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0] * 5
    assert_all_verify(root, configs)
    assert not broken.exists(), "the broken batch is deleted once its runs are published"
    assert hidden(root) == [], "no partial build or trash is left behind"
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
    assert "9 runs in" in whole.output
    assert hidden(tmp_path / "runs") == []


def _batch_writer(root, barrier, shard, built):
    """Compute shard `shard` (of 2; None: the whole sweep) of a small AdamW sweep, keep a copy of
    every table it built under `built`, then publish once every writer has computed."""
    publish, waited = store.write_batch, []

    def keep_and_publish(root, configs, tables, *args, **kwargs):
        if not waited:
            waited.append(barrier.wait(timeout=120))
        for k, c in enumerate(configs):
            (built / c.hash()).mkdir(parents=True, exist_ok=True)
            for name, frame in tables.items():
                own = frame[frame["config"] == k].drop(columns="config").reset_index(drop=True)
                if "metric" in own:  # as `store.read` gives it: strings, not a categorical
                    own["metric"] = own["metric"].astype(str)
                own.to_parquet(built / c.hash() / f"{name}.parquet")
        return publish(root, configs, tables, *args, **kwargs)

    store.write_batch = keep_and_publish
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
    a shard's batch and in the whole one), and whichever copy is read, the other writer's tables
    are the same bits."""
    root = tmp_path / "runs"
    barrier = FORK.Barrier(3)
    built = [tmp_path / f"built{i}" for i in range(3)]
    writers = [in_child(_batch_writer, root, barrier, shard, out) for shard, out in zip((0, 1, None), built)]
    for w in writers:
        w.join(300)
    assert [w.exitcode for w in writers] == [0, 0, 0]
    configs = [c.resolve() for c in adamw_sweep()]
    assert_all_verify(root, configs)
    for run in store.runs_of(root, (c.hash() for c in configs)):
        copies = [folder / run.name for folder in built if (folder / run.name).exists()]
        assert len(copies) == 2, "a shard and the whole sweep each computed it"
        for copy in copies:
            for table in ("metrics", "norms"):
                pd.testing.assert_frame_equal(pd.read_parquet(copy / f"{table}.parquet"),
                                              store.read([run], table).drop(columns="run"), check_exact=True)


# ----- kills -------------------------------------------------------------------------------------------
def _killed_at(point, root, force):
    """Re-run the sweep and SIGKILL this process at `point` of the first publication."""
    def kill(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if point == "building":  # the batch's own folder half written
        store._write_table = kill
    elif point == "placing":  # the batch built, not yet renamed into place
        store._place = kill
    elif point == "placed":  # the new batch in place, the superseded one not yet deleted
        store.collect = kill
    run_configs(sweep(), root, device="cpu", force=force)


@pytest.mark.parametrize("force", [True, False])
def test_a_kill_at_any_point_of_publishing_loses_no_finished_run(tmp_path, monkeypatch, force):
    """With --force the old batch is superseded; without, a broken one is. A SIGKILL while
    building, before the rename, or after it: afterwards every run verifies, and no finished
    run has to be recomputed."""
    root = tmp_path / "runs"
    configs = run_configs(sweep(), root, device="cpu")
    for point in ("building", "placing", "placed"):
        if not force:  # without --force only a broken batch is replaced: break one
            (batches(root)[-1] / "metrics.parquet").write_bytes(b"")
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
    """A writer killed while building leaves `batches/.<token>.<owner>.partial`; the next command
    that writes into the root sweeps it at once, as its owner is gone, and keeps the partial
    folders of a live writer (this process) and of a writer on another host (an hour's grace)."""
    root = tmp_path / "runs"
    run_configs(sweep(), root, device="cpu")
    child = in_child(_killed_at, "building", root, True)
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    (left,) = [name for name in hidden(root) if name.endswith(".partial")]
    assert f".{child.pid}." in left
    live = root / "batches" / f".0000000a.{store._owner()}.partial"
    remote = root / "batches" / f".0000000b.{child.pid}.1.elsewhere.example.partial"
    live.mkdir()
    remote.mkdir()
    run_configs(sweep(), root, device="cpu")  # every run is finished: nothing to compute
    assert hidden(root) == sorted([live.name, remote.name])


# ----- corruptions --------------------------------------------------------------------------------------
def _manifest(f):
    return json.loads((f / "manifest.json").read_text())


def _json(value):
    return lambda f, other: (f / "manifest.json").write_text(json.dumps(value))


def _edit_manifest(**fields):
    def edit(f, other):
        (f / "manifest.json").write_text(json.dumps({**_manifest(f), **fields}))
    return edit


def _edit_run(edit_run):
    """Apply `edit_run(run entry, the other run entries)` to the first run of the manifest."""
    def edit(f, other):
        manifest = _manifest(f)
        first, *rest = manifest["runs"].values()
        edit_run(first, rest)
        (f / "manifest.json").write_text(json.dumps(manifest))
    return edit


def _truncate(name):
    return lambda f, other: (f / name).write_bytes((f / name).read_bytes()[:40])


def _random(name):
    return lambda f, other: (f / name).write_bytes(os.urandom((f / name).stat().st_size))


def _write(name, content):
    return lambda f, other: (f / name).write_text(content)


def _delete(name):
    return lambda f, other: (f / name).unlink()


def _other_batch(name):
    return lambda f, other: shutil.copy(other / name, f / name)


def _replace_by_file(f, other):
    shutil.rmtree(f)
    f.write_text("not a folder")


def _rewrite_metrics(keep):
    """Replace the metrics table by its rows where `keep(table)`, with the manifest's size and
    sha256 updated to match: a consistent edit that only the tables' content can contradict."""
    def edit(f, other):
        table = pq.read_table(f / "metrics.parquet").to_pandas()
        table[keep(table)].reset_index(drop=True).to_parquet(f / "metrics.parquet")
        _relist(f)
    return edit


def _first_row_of_run(run):
    """The metrics table with its first row's run (dictionary-encoded, as written) set to `run`,
    the manifest's size and sha256 updated to match."""
    def edit(f, other):
        table = pq.read_table(f / "metrics.parquet").to_pandas()
        runs = table["run"].astype(object)
        runs.iloc[0] = run
        table.assign(run=pd.Categorical(runs)).to_parquet(f / "metrics.parquet")
        _relist(f)
    return edit


def _relist(f, rename=None):
    """List every table of `f` in its manifest with its current size and sha256 (after renaming
    table `rename[0]` to `rename[1]`, in the runs' lists too)."""
    manifest = _manifest(f)
    if rename:
        (f / f"{rename[0]}.parquet").rename(f / f"{rename[1]}.parquet")
        for run in manifest["runs"].values():
            run["tables"] = [rename[1] if t == rename[0] else t for t in run["tables"]]
    manifest["tables"] = {p.name: {"bytes": p.stat().st_size, "sha256": store.file_sha256(p)} for p in f.glob("*.parquet")}
    (f / "manifest.json").write_text(json.dumps(manifest))


def _swap_configs(first, rest):
    first["config"], rest[0]["config"] = rest[0]["config"], first["config"]


CORRUPTIONS = {
    "metrics truncated": _truncate("metrics.parquet"),
    "metrics emptied": _write("metrics.parquet", ""),
    "metrics random bytes, same size": _random("metrics.parquet"),
    "metrics deleted": _delete("metrics.parquet"),
    "metrics of another batch": _other_batch("metrics.parquet"),
    "probe table deleted": _delete("norms.parquet"),
    "probe table of another batch": _other_batch("norms.parquet"),
    "unlisted table added": lambda f, other: shutil.copy(f / "norms.parquet", f / "spectra.parquet"),
    "manifest truncated": _truncate("manifest.json"),
    "manifest emptied": _write("manifest.json", ""),
    "manifest random bytes": _random("manifest.json"),
    "manifest deleted": _delete("manifest.json"),
    "manifest []": _json([]),
    "manifest {}": _json({}),
    "manifest without checksums": _edit_manifest(tables=None),
    "manifest with a wrong checksum": _edit_manifest(tables={"metrics.parquet": {"bytes": 1, "sha256": "0"}}),
    "manifest with a bad seconds": _edit_manifest(seconds="slow"),
    "manifest without sources": _edit_manifest(sources=None),
    "manifest of another batch": _other_batch("manifest.json"),
    "a run with a bad diverged_step": _edit_run(lambda run, rest: run.update(diverged_step="x")),
    "a run diverged early, finite metrics to the end": _edit_run(lambda run, rest: run.update(diverged_step=2)),
    "a run diverged after the last step": _edit_run(lambda run, rest: run.update(diverged_step=100)),
    "a run with another lr": _edit_run(lambda run, rest: run["config"]["hparams"].update(lr=0.02)),
    "two runs' configs swapped": _edit_run(_swap_configs),
    "a run that does not list its probe table": _edit_run(lambda run, rest: run.update(tables=["metrics"])),
    "a run dropped from the manifest": _edit_manifest(runs={}),
    "metrics cut short, checksums updated": _rewrite_metrics(lambda t: t["step"] <= 3),
    "metrics without a step, checksums updated": _rewrite_metrics(lambda t: t["step"] != 3),
    "metrics of one run only, checksums updated": _rewrite_metrics(lambda t: t["run"] == t["run"].iloc[0]),
    "metrics with a row of a run not in the batch, checksums updated": _first_row_of_run("0" * 64),
    "metrics with a row of no run, checksums updated": _first_row_of_run(None),
    "a table of no probe of the configs, listed": lambda f, other: _relist(f, ("norms", "spectra")),
    "a file in place of the batch": _replace_by_file,
    "an empty folder": lambda f, other: [p.unlink() for p in f.iterdir()],
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A batch of two finished runs with a probe table, another batch, and the first's summary."""
    root = tmp_path_factory.mktemp("finished")
    configs = run_configs(sweep(lrs=(1e-2,), probes=("norms",)), root, device="cpu")
    run_configs(sweep(lrs=(1e-1,), probes=("norms",)), root, device="cpu")
    return root, configs, summary(root, configs)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_is_named_in_one_line_recomputed_and_never_trusted(tmp_path, finished, name):
    source, configs, expected = finished
    root = tmp_path / "runs"
    shutil.copytree(source, root)
    folder = store.find_run(root / configs[0].hash()).where
    (other,) = [b for b in batches(root) if b != folder]
    CORRUPTIONS[name](folder, other)

    assert store.Index(root).find(configs[0].hash()) is None
    shown = CliRunner().invoke(main, ["show", str(root / configs[0].hash())])
    assert shown.exit_code == 2 and "Traceback" not in shown.output
    assert shown.output.startswith(f"Error: {root / configs[0].hash()}: ") and len(shown.output.splitlines()) == 1

    with pytest.warns(ToylabWarning) as caught:
        run_configs(sweep(lrs=(1e-2,), probes=("norms",)), root, device="cpu")
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(f"batch {folder}: ") and message.endswith("recomputing its runs")
    assert "\n" not in message
    assert_all_verify(root, configs)
    pd.testing.assert_frame_equal(summary(root, configs), expected)
    assert not folder.exists() and len(batches(root)) == 2 and hidden(root) == []


def _diverged_runs(root):
    """Two runs of 8 steps, metrics every step, that diverge (lr = 1000), and their steps."""
    configs = run_configs(grid(RunConfig("linear_regression", "sgd", {"d": 3, "D": 1}, {"lr": 1e3}, steps=8,
                                         metric_every=1), {"seed": [0, 1]}), root, device="cpu")
    steps = [store.find_run(root / c.hash()).status["diverged_step"] for c in configs]
    assert all(s is not None and s < 8 for s in steps)
    return configs, steps


@pytest.mark.parametrize("claim", ["never", "one step later", "one step earlier"])
def test_a_diverged_step_the_metrics_contradict_is_not_trusted(tmp_path, claim):
    configs, steps = _diverged_runs(tmp_path)
    (folder,) = batches(tmp_path)
    shift = {"never": None, "one step later": steps[0] + 1, "one step earlier": steps[0] - 1}[claim]
    assert shift != 0, "the run should diverge after its first step"
    manifest = _manifest(folder)
    manifest["runs"][configs[0].hash()]["diverged_step"] = shift
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert f"run {configs[0].hash()}: the manifest says it" in store.batch(folder)[1]
    with pytest.warns(ToylabWarning, match="recomputing its runs"):
        run_configs(configs, tmp_path, device="cpu")
    assert store.find_run(tmp_path / configs[0].hash()).status["diverged_step"] == steps[0]


def _middle_run(edit):
    """Apply `edit(table rows of one run, the manifest entry of that run)` to the 21st of 40 runs of a batch
    (the metrics rewritten with their checksums updated)."""
    def apply(f):
        manifest = _manifest(f)
        name = list(manifest["runs"])[20]
        table = pq.read_table(f / "metrics.parquet").to_pandas()
        table["run"] = table["run"].astype(str)
        own = table["run"] == name
        table = pd.concat([table[~own], edit(table[own].copy(), manifest["runs"][name])], ignore_index=True)
        (f / "manifest.json").write_text(json.dumps(manifest))
        table.to_parquet(f / "metrics.parquet")
        _relist(f)
        return name
    return apply


def _loss_at(step, value):
    def edit(rows, run):
        rows.loc[(rows["metric"] == "batch_loss") & (rows["step"] == step), "value"] = value
        return rows
    return edit


LATER_RUN_EDITS = {
    "a step missing": (lambda rows, run: rows[rows["step"] != 3], "metrics.parquet records steps 0, 6"),
    "a step added": (lambda rows, run: pd.concat([rows, rows.assign(step=rows["step"] + 1)]),
                     "metrics.parquet records steps 0, 1, …, 7"),
    "a NaN loss, never diverged": (_loss_at(3, np.nan), "never diverged, but its batch loss at step 3"),
    "diverged before finite losses": (lambda rows, run: run.update(diverged_step=3) or rows,
                                      "diverged at step 3, but metrics.parquet has values at step 3"),
    "diverged after its last step": (lambda rows, run: run.update(diverged_step=7) or rows,
                                     "diverged at step 7, after its last step 6"),
}


@pytest.mark.parametrize("edit", LATER_RUN_EDITS)
def test_a_contradiction_in_any_run_of_a_large_batch_is_named_and_not_trusted(tmp_path, edit):
    """The claims of all runs are screened at once, then each suspect alone: an edit to the 21st
    run of 40, checksums updated, is named with that run and its batch is not trusted."""
    configs = run_configs(sweep(lrs=np.geomspace(1e-3, 1e-1, 20).tolist()), tmp_path, device="cpu")
    (folder,) = batches(tmp_path)
    assert store.batch(folder) == (_manifest(folder), None)
    change, says = LATER_RUN_EDITS[edit]
    name = _middle_run(change)(folder)
    manifest, problem = store.batch(folder)
    assert problem is not None and problem.startswith(f"run {name}: ") and says in problem
    index = store.Index(tmp_path)
    assert index.find(name) is None and all(index.find(c.hash()) is None for c in configs)


def test_an_edited_diverged_step_is_neither_shown_nor_reused(tmp_path):
    """The issue's case: diverged_step set to 5 in a 50-step run with finite metrics to the end."""
    args = ["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-2", "-p", "d=3", "-p", "D=1",
            "--steps", "50", "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    (name,) = store.runs_in(tmp_path)
    _edit_run(lambda run, rest: run.update(diverged_step=5))(batches(tmp_path)[0], None)
    shown = CliRunner().invoke(main, ["show", str(tmp_path / name)])
    assert shown.exit_code == 2 and len(shown.output.splitlines()) == 1
    assert "diverged at step 5, but metrics.parquet has values at step 10" in shown.output
    rerun = CliRunner().invoke(main, args)
    assert rerun.exit_code == 0 and "recomputing its runs" in rerun.output
    assert store.find_run(tmp_path / name).status["diverged_step"] is None


def test_the_summary_lists_runs_it_cannot_read_and_keeps_diverged_runs(tmp_path):
    configs = run_configs(sweep(lrs=(1e-2, 1e3)), tmp_path, device="cpu")  # lr = 1000 diverges
    table = summary(tmp_path, configs)
    assert len(table) == 4 and not table.attrs["missing"]
    assert table["diverged_step"].notna().sum() == 2 and table["loss"].isna().sum() == 2
    only_diverged = summary(tmp_path, [c for c in configs if c.hparams["lr"] == 1e3])
    assert len(only_diverged) == 2 and "loss" in only_diverged, "an all-diverged summary keeps its columns"
    (batches(tmp_path)[0] / "metrics.parquet").unlink()  # e.g. a disk that lost it
    table = summary(tmp_path, configs)
    assert len(table) == 4 and table.attrs["missing"] == [str(tmp_path / c.hash()) for c in configs]


def test_a_sweep_whose_metrics_cannot_be_read_says_which_runs_are_missing(tmp_path, monkeypatch):
    args = ["sweep", "linear_regression", "--optimizer", "sgd", "--lr", "1e-3,1e-2", "-p", "d=3", "-p", "D=1",
            "--steps", "5", "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    real = summarize.load_runs
    monkeypatch.setattr(summarize, "load_runs", lambda found, **kw: real(found[1:], **kw))
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
        assert hidden(tmp_path / "out" / "runs") == [] and len(batches(tmp_path / "out" / "runs")) == 1
