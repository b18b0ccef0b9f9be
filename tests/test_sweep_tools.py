"""From a sweep to a table and a picture: `toylab summary`, `toylab plot`, `toylab show` on a
sweep folder, and `toylab list` with probes, schedules, timescales and reports."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from toylab import store, summarize
from toylab.cli import main

FAST = ["-p", "d=4", "-p", "D=2", "--steps", "30", "--metric-every", "5"]
LRS = [1e-3, 1e-2, 10.0]  # SGD diverges at 10


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "runs"
    result = invoke("sweep", "linear_regression", "--optimizer", "adamw,sgd", "--lr", ",".join(map(str, LRS)),
                    "--seeds", "0-2", "--probe", "norms", *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_sweep_ends_with_one_row_per_setting_and_the_best_lr(sweep):
    out, printed = sweep
    assert "best lr for adamw" in printed and "best lr for sgd" in printed
    assert f"toylab plot {out}" in printed
    rows = [line for line in printed.splitlines() if line.lstrip().startswith(("adamw ", "sgd "))]
    assert len(rows) == 2 * len(LRS), "one row per (optimizer, lr), not one per seed"


def test_summary_aggregates_over_seeds_against_the_run_tables(sweep):
    out, _ = sweep
    table = pd.DataFrame(json.loads(invoke("summary", out, "--format", "json").output))
    assert len(table) == 6 and (table["n_seeds"] == 3).all()
    for row in table.itertuples():
        finals = []
        for name in row.runs.split():
            run = store.find_run(out / name)  # its batch's table, read by pandas directly
            metrics = pd.read_parquet(run.where / "metrics.parquet", filters=[("run", "==", name)])
            loss = metrics[metrics["metric"] == "loss"].sort_values("step")
            assert run.config["hparams"]["lr"] == row.lr
            finals.append(loss["value"].iloc[-1])
        finals = np.array(finals)
        if row.n_diverged:
            assert row.optimizer == "sgd" and row.lr == 10.0 and row.n_diverged == 3
            continue
        logs = np.log(finals)  # a positive quantity: geometric mean ×/÷ exp(2 s.e. of the logs), as the plots
        half = 2 * logs.std(ddof=1) / np.sqrt(3)
        assert row.loss == pytest.approx(np.exp(logs.mean()), rel=1e-6)
        assert (row.loss_low, row.loss_high) == pytest.approx(np.exp([logs.mean() - half, logs.mean() + half]), rel=1e-6)
    best = table[table["best"] != ""]
    assert sorted(best["optimizer"]) == ["adamw", "sgd"]
    for row in best.itertuples():
        own = table[(table["optimizer"] == row.optimizer) & (table["n_diverged"] == 0)]
        assert row.loss == own["loss"].min()
        assert ("edge" in row.best) == (row.lr in (min(LRS), max(LRS)))


def test_summary_formats_and_bad_metric(sweep):
    out, _ = sweep
    csv = invoke("summary", out, "--format", "csv").output
    assert csv.splitlines()[0].startswith("problem,optimizer") and len(csv.splitlines()) == 7
    assert invoke("summary", out, "--format", "csv").output == csv, "row order is deterministic"
    bad = invoke("summary", out, "--metric", "los")
    assert bad.exit_code == 2
    assert "no metric 'los'" in bad.output and "loss" in bad.output and "Traceback" not in bad.output


def test_show_on_a_sweep_folder_aggregates_and_points_to_plot(sweep):
    out, _ = sweep
    result = invoke("show", out)
    assert result.exit_code == 0, result.output
    assert "best lr for adamw" in result.output and "toylab plot" in result.output


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_writes_each_format_byte_identically(sweep, tmp_path, suffix):
    out, _ = sweep
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    for path in (first, second):
        result = invoke("plot", out, "--kind", "lr,curves,probe", "--probe", "norms:rms_update", "--save", path)
        assert result.exit_code == 0, result.output
    assert first.stat().st_size > 1000 and first.read_bytes() == second.read_bytes()


def test_plot_facets_by_any_field_and_rejects_bad_input(sweep, tmp_path):
    out, _ = sweep
    ok = invoke("plot", out, "--kind", "curves", "--hue", "lr", "--col", "optimizer", "--save", tmp_path / "f.png")
    assert ok.exit_code == 0, ok.output
    for args, message in [(["--hue", "nope"], "--hue nope: no such field"),
                          (["--where", "lr=5"], "--where lr=5: no run has it"),
                          (["--metric", "nope"], "--metric 'nope'"),
                          (["--kind", "lr", "--hue", "lr"], "differ in optimizer"),
                          (["--probe", "norms:nope"], "rms_update"),
                          (["--save", tmp_path / "f.gif"], "must end in")]:
        result = invoke("plot", out, *args, *([] if "--save" in args else ["--save", tmp_path / "g.png"]))
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output


def test_plot_marks_the_diverged_runs_and_the_best_lr(sweep):
    import matplotlib.pyplot as plt

    from toylab import figures

    out, _ = sweep
    metrics = summarize.load([out])
    fig, ax = plt.subplots()
    figures.draw_lr(ax, metrics, "loss", False, "optimizer")
    labels = ax.get_legend_handles_labels()[1]
    assert "diverged (top edge)" in labels and any(label.startswith("best lr") for label in labels)
    lines = {line.get_label(): line.get_xdata() for line in ax.get_lines()}
    assert 10.0 not in list(lines["sgd"]), "a diverged lr is a marker, not a data point"
    plt.close(fig)


def test_list_shows_probes_schedules_timescales_and_reports():
    text = invoke("list").output
    for word in ["grad_to_weights", "orthogonality_error", "kl_pq_per_coord", "cosine", "half_life",
                 "tau_iter", "tau_epoch", "muon_linear_regression", "C13"]:
        assert word in text, word
    data = json.loads(invoke("list", "--json").output)
    assert {"problems", "optimizers", "probes", "schedules", "timescales", "reports"} <= set(data)
    assert "rms_update" in data["probes"]["norms"]["quantity"]
    assert data["schedules"]["cosine"]["warmup"]["default"] == 0
    assert any(r["name"] == "moment_kl" and r["claim"] == "C12" for r in data["reports"])


def test_a_run_that_explodes_without_a_nan_counts_as_diverged():
    rows = [{"run": f"r{seed}", "seed": seed, "optimizer": "sgd", "lr": 0.1, "problem": "p", "metric": "loss",
             "step": step, "value": v, "diverged_step": None, "diverged": False}
            for seed, values in {0: [10.0, 1.0], 1: [10.0, 1e27], 2: [10.0, 2.0]}.items()
            for step, v in enumerate(values)]
    table = summarize.aggregate(pd.DataFrame(rows))
    assert table.loc[0, "n_diverged"] == 1 and table.loc[0, "loss"] == pytest.approx(np.sqrt(1.0 * 2.0))  # geometric


def test_a_problem_without_loss_is_summarised_by_its_first_metric(tmp_path):
    result = invoke("sweep", "noise", "--optimizer", "adamw", "--lr", "1e-3,1e-2", "--steps", "5", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.split()[2] == "batch_loss"  # ⟨θ, g⟩: mean or geometric mean, by the signs it took
    weight = invoke("summary", tmp_path, "--metric", "weight_rms")
    assert weight.exit_code == 0 and "weight_rms (geo. mean [×/÷ 2 s.e.])" in weight.output  # a positive quantity


def test_a_batch_table_gives_each_config_its_rows_in_order_as_a_groupby_would(tmp_path):
    """The engine's table of a batch (a `config` column) written as one file with a `run` column:
    read back per run with a pyarrow filter, each kept config has its rows, in order; a config
    left out (published meanwhile by another writer) or without rows has none."""
    from toylab.store import _write_table

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"config": rng.choice([0, 1, 3], size=40), "step": np.arange(40), "value": rng.normal(size=40)})
    names = [f"run{k}" for k in range(5)]
    held = _write_table(tmp_path / "t.parquet", frame, names, keep=[0, 3, 4])
    assert held == ["run0", "run3"]
    assert set(pd.read_parquet(tmp_path / "t.parquet")["run"].astype(str)) == {"run0", "run3"}
    for k, expected in frame[frame.config != 1].groupby("config"):
        table = pd.read_parquet(tmp_path / "t.parquet", filters=[("run", "==", names[k])])
        pd.testing.assert_frame_equal(table.drop(columns="run"), expected.drop(columns="config").reset_index(drop=True))


def test_the_best_lr_flags_are_the_best_points_of_checks_over_each_group(tmp_path):
    """`aggregate`'s grouped best lr against `checks.best_points` (the reference, one group at a
    time): random settings in groups of 1–6 lrs, 3 seeds, some seeds diverged, some metrics with
    values ≤ 0 (then compared without logs), float64."""
    from toylab import checks

    rng = np.random.default_rng(3)
    rows = []
    for group in range(40):
        lrs = np.sort(rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2], size=rng.integers(1, 7), replace=False))
        shift = -5.0 if group % 5 == 0 else 0.0  # a group with negative values: means of values, not of logs
        for lr in lrs:
            for seed in range(3):
                final = rng.lognormal() + shift
                diverged = rng.random() < 0.15
                rows += [{"run": f"g{group}-{lr}-{seed}", "seed": seed, "optimizer": "sgd", "lr": lr, "width": group,
                          "problem": "p", "metric": "loss", "step": step, "value": value,
                          "diverged_step": 2 if diverged else None, "diverged": diverged}
                         for step, value in ((0, 10.0), (2, np.nan if diverged else final))]
    table = summarize.aggregate(pd.DataFrame(rows))
    final = summarize.final_values(pd.DataFrame(rows))
    reference = checks.best_points(final.assign(value=final["value"].fillna(np.inf)), "lr", ["width"])
    reference = reference[(reference["grid"].map(len) > 1) & reference["best"].notna()]
    expected = {(w, b): "best lr, grid edge" if edge else "best lr"
                for w, b, edge in zip(reference["width"], reference["best"], reference["at_edge"])}
    got = {(w, lr): flag for w, lr, flag in zip(table["width"], table["lr"], table["best"]) if flag}
    assert got == expected and len(expected) > 20


@pytest.mark.parametrize("best", [False, True])
def test_the_summary_of_the_final_rows_is_the_summary_of_every_row(sweep, best):
    """`load(..., finals=True)` keeps the rows final values read; the summary of a sweep with
    diverged runs and NaN metrics is the same table (float64, exactly) as from every row, which
    they are fewer than a third of."""
    out, _ = sweep
    every, finals = summarize.load([out]), summarize.load([out], finals=True)
    assert len(finals) * 3 < len(every)
    for metric in ("loss", "dist_to_opt"):
        pd.testing.assert_frame_equal(summarize.aggregate(finals, metric, best), summarize.aggregate(every, metric, best))


def test_the_printed_tables_width_is_found_from_each_columns_widest_cell():
    """`_width` (one row per column) against the widest line of the whole printed table."""
    rng = np.random.default_rng(5)
    for n in (1, 7, 300):
        frame = pd.DataFrame({"optimizer": rng.choice(["sgd", "adamw", "signsgd"], n),
                              "lr": 10.0 ** rng.uniform(-6, 2, n),
                              "loss": np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(0, 8, n)),
                              "seeds": [f"{d}/{s}" for d, s in rng.integers(0, 12, (n, 2))],
                              "steps": rng.integers(1, 10**rng.integers(1, 9), n)})
        assert summarize._width(frame) == max(map(len, summarize._text(frame).splitlines()))
