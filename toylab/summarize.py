"""Sweeps summarised over seeds: read any set of runs, aggregate final metrics per setting.

A *setting* is a config without its seed (optimizer, hyperparameters, problem options, ...). Per
setting, over its n seeds that did not diverge, each metric's final values v_s give a centre and
a ±2 s.e. interval (std with ddof = 1; none when n = 1) as the plots' seed bands do
(`toylab/plotting.py`): for a metric whose every finite value is > 0 (a loss, a distance) in log
space, so that the interval of a positive quantity stays positive,

    geometric mean g = exp(mean(log v)),   interval g ×/÷ exp(2·std(log v)/√n),

and for any other metric  mean m = (1/n) Σ_s v_s,  interval m ± 2·std(v)/√n.

and `n_diverged` counts the seeds that diverged by the rule of `checks.final_values` (marked by
the engine, a non-finite final value, or one above `checks.EXPLODE` (10³) times the run's first
recorded value). The best lr of each group of settings that differ only in lr is the best point
of `checks.best_points` (seed mean of the log metric, a setting with a diverged seed never wins;
its ties, which need a t quantile, are not computed), flagged when it is the smallest or largest
lr of the grid: the optimum may lie outside it.
"""
from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd

from . import checks, store
from .options import UserError, warn

NOT_SETTING = {"step", "metric", "value", "run", "seed", "label", "folder", "diverged_step", "diverged"}
FORMATS = ("table", "csv", "json")


# ----- reading -------------------------------------------------------------------------------------
def runs(paths) -> list[store.Run]:
    """The finished runs that `paths` name (`store.find_runs`: a sweep's --out, batch folders, run
    addresses `<out>/<hash>`, older run folders), sorted by address. A batch or folder that does
    not verify is left out with a one-line warning naming it."""
    found, problems = store.find_runs(paths)
    for where, problem in problems.items():
        warn(f"{where}: {problem}; left out")
    if not found:
        raise UserError(f"no finished runs in {', '.join(map(str, paths))} (a sweep's --out holds its runs in "
                        "batches/; a run is named <out>/<config hash>)")
    return sorted(found, key=lambda run: run.address)


def load(paths, table: str = "metrics", finals: bool = False) -> pd.DataFrame:
    """One tidy `table` over the runs `paths` name (those that verify, see `runs`), with each
    run's config as columns, `run` (its config hash), `folder` (its address `<out>/<hash>`),
    `diverged_step` and `diverged`; with `finals`, only the rows final values read (`final_rows`)."""
    return load_runs(runs(paths), table, ", ".join(map(str, paths)), finals)


def load_runs(found: list[store.Run], table: str = "metrics", where: str = "these runs",
              finals: bool = False) -> pd.DataFrame:
    """`load` of the runs `found` (`store.Run`s); `where` names them in the error when none has `table`."""
    rows = store.read(found, table)
    out = store.with_run_columns(final_rows(rows) if finals and not rows.empty else rows, found,
                                 lambda run: {"folder": str(run.address)})
    if out.empty:
        raise UserError(f"no {table} table in the runs of {where}")
    return out.assign(**{c: store.as_strings(out[c]) for c in out.columns if isinstance(out[c].dtype, pd.CategoricalDtype)})


def final_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of a metrics table (`run`, `step`, `metric`, `value`) that final values read
    (`checks.final_values`, with or without `best`): per run and metric, by step, the first row
    with a value, the row of its smallest value and the last row; in their order in `rows`."""
    codes = rows.groupby(["run", "metric"], sort=False).ngroup().to_numpy()
    order = np.lexsort((rows["step"].to_numpy(), codes))
    codes, value = codes[order], rows["value"].to_numpy(dtype=float)[order]
    keep = np.zeros(len(rows), bool)
    keep[np.flatnonzero(np.r_[codes[1:] != codes[:-1], True])] = True  # last
    valued = np.flatnonzero(~np.isnan(value))
    if len(valued):
        keep[valued[np.r_[True, codes[valued][1:] != codes[valued][:-1]]]] = True  # first with a value
        keep[valued[pd.Series(value[valued]).groupby(codes[valued]).idxmin().to_numpy()]] = True  # smallest
    return rows.iloc[np.sort(order[keep])].reset_index(drop=True)


def setting_columns(frame: pd.DataFrame) -> list[str]:
    """The config columns that name a setting (everything but the seed and the run)."""
    return [c for c in frame.columns if c not in NOT_SETTING and not c.startswith("_")]


def varying(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The `columns` that take more than one value within some optimizer (NaN counts as a
    value), with `optimizer` itself first when it varies."""
    text = frame[columns].astype(str)
    within = text.groupby(frame["optimizer"]) if "optimizer" in frame else text.groupby(lambda _: 0)
    counts = within.nunique().max()
    return [c for c in columns if (c == "optimizer" and text[c].nunique() > 1) or (c != "optimizer" and counts[c] > 1)]


def default_metric(metrics: pd.DataFrame) -> str:
    """`loss` when the runs record it (then `batch_loss`), else their first metric by name."""
    names = sorted(metrics["metric"].unique())
    return next((m for m in ("loss", "batch_loss") if m in names), names[0])


# ----- aggregating ---------------------------------------------------------------------------------
def final_values(metrics: pd.DataFrame, best: bool = False) -> pd.DataFrame:
    """One row per run and metric: the value at the run's last recorded step (or, with `best`,
    the smallest value over training); NaN for a run that diverged (`checks.final_values`)."""
    out = checks.final_values(metrics, best=best)
    out.loc[out["diverged"], "value"] = np.nan
    return out


def aggregate(metrics: pd.DataFrame, metric: str | None = None, best: bool = False) -> pd.DataFrame:
    """Per setting: n_seeds, n_diverged (runs with a NaN final value), `<m>`, `<m>_low`, `<m>_high`
    for every metric m — the centre and ±2 s.e. interval of its finite final values (module: the
    geometric mean ×/÷ a factor for a positive metric, listed in `attrs["geometric"]`; NaN bounds
    for fewer than two) — `best` ('best lr', 'best lr, grid edge' or '') by
    `metric`, and `runs` (its folder names). Grouped operations over all settings at once."""
    metric = metric or default_metric(metrics)
    if metric not in set(metrics["metric"].unique()):
        raise UserError(f"no metric {metric!r} in these runs; metrics: {', '.join(sorted(set(metrics['metric'])))}")
    final = final_values(metrics, best)
    keys = setting_columns(final)
    setting = final.groupby(keys, dropna=False, sort=False).ngroup().rename("setting")  # first-appearance order
    first = ~setting.duplicated()
    # the settings' values as Python objects, so that each column's dtype is inferred from its settings
    table = pd.DataFrame(final.loc[first, keys].to_numpy(dtype=object).tolist(), columns=keys,
                         index=setting[first].to_numpy())
    runs = final["value"].isna().groupby([setting, final["run"]]).any()  # per (setting, run): diverged
    table["n_seeds"] = runs.groupby(level="setting").size()
    table["n_diverged"] = runs.groupby(level="setting").sum().astype(int)
    value = final["value"].astype(float)  # float64
    finite = np.isfinite(value)
    positive = (value.gt(0) | ~finite).groupby(final["metric"]).all() & finite.groupby(final["metric"]).any()
    logged = final["metric"].map(positive)
    value = value.where(~logged, np.log(value.where(value > 0)))
    stats = value.groupby([setting, final["metric"]]).agg(["mean", "std", "count"])
    half = 2 * stats["std"] / np.sqrt(stats["count"])
    for name in dict.fromkeys(stats.index.get_level_values("metric")):  # per setting, metrics by name
        centre, width = stats["mean"].xs(name, level="metric"), half.xs(name, level="metric")
        bounds = (centre, centre - width, centre + width)
        table[name], table[f"{name}_low"], table[f"{name}_high"] = map(np.exp, bounds) if positive[name] else bounds
    table["runs"] = runs.reset_index().groupby("setting")["run"].agg(lambda r: " ".join(sorted(r)))
    table["best"] = checks.best_flags(final[final["metric"] == metric].assign(setting=setting), keys)
    table = table.sort_values(keys, kind="mergesort", na_position="last", key=_sort_key).reset_index(drop=True)
    table.attrs["metric"] = metric
    table.attrs["geometric"] = sorted(positive.index[positive])
    return table


def _sort_key(column: pd.Series) -> pd.Series:
    return column if pd.api.types.is_numeric_dtype(column) else column.astype(str)


# ----- printing ------------------------------------------------------------------------------------
WIDTH = 100  # columns of the printed table; --format csv or json holds every field
BEST_MARKS = {"best lr": "*", "best lr, grid edge": "* edge"}


def _num(v) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.4g}"


def _keys(table: pd.DataFrame) -> list[str]:
    """The setting columns of an `aggregate` table (not counts, metrics, flags or runs)."""
    return [c for c in table.columns if c not in {"n_seeds", "n_diverged", "runs", "best"}
            and not c.endswith(("_low", "_high")) and f"{c}_low" not in table.columns]


def _text(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=_num_text)


def _num_text(v) -> str:
    return f"{v:.4g}"


def _width(frame: pd.DataFrame) -> int:
    """The widest line of `_text(frame)`: that of the frame of each column's widest cell."""
    def widest(column: pd.Series) -> int:
        cells = column.map(_num_text) if pd.api.types.is_float_dtype(column) else column.astype(str)
        return int(cells.str.len().to_numpy().argmax()) if len(cells) else 0
    cells = pd.DataFrame({c: frame[c].iloc[[widest(frame[c])]].reset_index(drop=True) for c in frame}) if len(frame) else frame
    return max(map(len, _text(cells).splitlines()))


def format_table(table: pd.DataFrame, fmt: str = "table") -> str:
    """`table` (of `aggregate`) as CSV, JSON (everything) or an aligned text table of at most
    `WIDTH` columns: the settings' varying columns, its metric as centre [low, high], seeds
    diverged, the best-lr mark, then as many of the other metrics' centres as fit."""
    metric = table.attrs["metric"]
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not allowed; choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return json.dumps(json.loads(table.to_json(orient="records")), indent=1)
    keys = _keys(table)
    shown = pd.DataFrame({c: table[c] for c in dict.fromkeys(["optimizer", *varying(table, keys)]) if c in table})
    centre = "geo. mean [×/÷ 2 s.e.]" if metric in table.attrs.get("geometric", []) else "mean [±2 s.e.]"
    shown[f"{metric} ({centre})"] = [f"{_num(m)} [{_num(lo)}, {_num(hi)}]" if m == m else "diverged"
                                   for m, lo, hi in zip(table[metric], table[f"{metric}_low"], table[f"{metric}_high"])]
    shown["diverged/seeds"] = [f"{d}/{n}" for d, n in zip(table["n_diverged"], table["n_seeds"])]
    shown["best"] = table["best"].map(lambda b: BEST_MARKS.get(b, b))
    left_out = []
    for other in sorted(c for c in table.columns if f"{c}_low" in table.columns and c != metric):
        wider = shown.assign(**{other: table[other].map(_num)})
        if left_out or _width(wider) > WIDTH:
            left_out.append(other)
        else:
            shown = wider
    lines = [_text(shown)]
    if left_out:
        lines.append(f"(also in --format csv or json: {', '.join(left_out)}, the intervals and the run folders)")
    context = [c for c in varying(table, keys) if c not in ("optimizer", "lr")]
    for _, row in table[table["best"] != ""].iterrows():
        where = " — grid edge: the optimum may lie outside" if "edge" in row["best"] else ""
        setting = ", ".join(f"{c}={row[c]}" for c in context)
        lines.append(f"best lr for {row['optimizer']}{f' ({setting})' if setting else ''}: {row['lr']:g} "
                     f"({metric} {_num(row[metric])}){where}")
    return "\n".join(lines)


def plot_command(out, table: pd.DataFrame) -> str:
    """A `toylab plot` command that draws the runs of `table` (of `aggregate`): one column (then
    row) of panels per value of each setting that varies besides the optimizer and the lr, and
    `--where` fixing the first value of any further one."""
    context = [c for c in varying(table, _keys(table)) if c not in ("optimizer", "lr")]
    facets = [arg for flag, c in zip(("--col", "--row"), context) for arg in (flag, c)]
    where = [arg for c in context[2:] for arg in ("--where", f"{c}={table[c].iloc[0]}")]
    return shlex.join(["toylab", "plot", str(out), *facets, *where, "--save", "plot.png"])
