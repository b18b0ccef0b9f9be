"""`toylab plot`: figures of any set of run folders, no spec needed.

Kinds of panel (one row of panels each, faceted by `col` / `row` config fields):

    lr       final (or best) metric against the learning rate per hue, seeds as a band, the
             best lr of each hue starred (`checks.best_points`, through `summarize.aggregate`),
             diverged runs (`checks.final_values`) × at the top edge
    curves   the metric against the step per hue at that hue's best lr (every lr with hue=lr)
    probe    a probe quantity (`TABLE:QUANTITY`, e.g. norms:grad_to_weights) against the step

Bands are mean ± 2 s.e. over seeds, in log space on a log axis (`toylab.plotting`). Within a
panel, runs that share a hue value and an x must differ only in their seed; otherwise the error
names the fields that differ, to facet by or filter with `--where`.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import checks, plotting, summarize  # noqa: E402
from .options import UserError  # noqa: E402

KINDS = ("lr", "curves", "probe")
FORMATS = (".png", ".svg", ".pdf")
METADATA = {".png": {"Software": None}, ".svg": {"Date": None}, ".pdf": {"CreationDate": None}}


def select(frame: pd.DataFrame, where: dict[str, str]) -> pd.DataFrame:
    """Rows whose `key` column equals each value (as text, or as a number when both are)."""
    for key, value in where.items():
        if key not in frame.columns:
            raise UserError(f"--where {key}: no such field; fields: {', '.join(summarize.setting_columns(frame))}")
        column = frame[key]
        try:
            mask = np.isclose(column.astype(float), float(value))
        except (TypeError, ValueError):
            mask = column.astype(str) == value
        if not mask.any():
            raise UserError(f"--where {key}={value}: no run has it; values: "
                            f"{', '.join(map(str, plotting.order(column.dropna().unique())))}")
        frame = frame[mask]
    return frame


def _check_field(frame: pd.DataFrame, name: str | None, option: str) -> None:
    if name is not None and name not in frame.columns:
        raise UserError(f"{option} {name}: no such field; fields: {', '.join(summarize.setting_columns(frame))}")


def _check_one_per_seed(frame: pd.DataFrame, x: str, hue: str | None, extra: list[str]) -> None:
    keys = [c for c in (hue, x, "seed", *extra) if c]
    dup = frame[frame.duplicated(keys, keep=False)]
    if len(dup):
        labels = [c for c in ("param", "index", "reference", "moments") if c in dup]
        differ = [c for c in summarize.varying(dup, summarize.setting_columns(dup)) + labels
                  if c not in keys and dup.groupby(keys)[c].nunique(dropna=False).max() > 1]
        raise UserError(f"runs that share {hue}={dup[hue].iloc[0] if hue else ''} differ in "
                        f"{', '.join(differ) or 'unknown fields'}: facet with --col/--row or --hue, "
                        f"or pick one with --where {differ[0] if differ else 'KEY'}=VALUE")


def _log_axis(values) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(len(v)) and (v > 0).all() and np.log10(v.max() / v.min()) > 1


def _best_lrs(metrics: pd.DataFrame, metric: str, best: bool, hue: str) -> pd.DataFrame:
    table = summarize.aggregate(metrics, metric, best)
    return table.loc[table["best"] != "", [c for c in (hue, "lr", "best", metric) if c in table]]


def draw_lr(ax, metrics, metric: str, best: bool, hue: str) -> None:
    if "lr" not in metrics:
        raise UserError("these runs have no lr field to plot against")
    final = checks.final_values(metrics, metric, best=best)
    _check_one_per_seed(final, "lr", hue, [])
    stats = plotting.seed_band(ax, final, "lr", "value", hue=hue, log=_log_axis(final["value"]), marker="o",
                               markersize=4)
    for _, b in _best_lrs(metrics, metric, best, hue).iterrows():
        s = stats[(stats[hue] == b[hue]) & np.isclose(stats["lr"], b["lr"])]
        label = "best lr (at the grid edge)" if "edge" in b["best"] else "best lr"
        plotting.mark_best(ax, b["lr"], s["centre"].iloc[0], b[hue], label=label)
    ax.set(xscale="log", xlabel="learning rate η", ylabel=f"{'best' if best else 'final'} {metric}")


def draw_curves(ax, metrics, metric: str, best: bool, hue: str) -> str:
    rows, note = at_best_lr(metrics[metrics["metric"] == metric], metrics, metric, best, hue)
    _check_one_per_seed(rows, "step", hue, [])
    plotting.seed_band(ax, rows, "step", "value", hue=hue, log=_log_axis(rows["value"]), explode=checks.EXPLODE)
    ax.set(xlabel="step", ylabel=metric)
    return note


def at_best_lr(rows, metrics, metric: str, best: bool, hue: str) -> tuple[pd.DataFrame, str]:
    """`rows` of each hue's best lr when the lr varies within a hue (and hue is not the lr)."""
    if hue == "lr" or "lr" not in rows or not (rows.groupby(hue)["lr"].nunique() > 1).any():
        return rows, ""
    return rows.merge(_best_lrs(metrics, metric, best, hue)[[hue, "lr"]], on=[hue, "lr"]), " at each best lr"


def draw_probe(ax, table, quantity: str, hue: str) -> None:
    _check_one_per_seed(table, "step", hue, [])
    plotting.seed_band(ax, table, "step", "value", hue=hue, log=_log_axis(table["value"]))
    ax.set(xlabel="step", ylabel=quantity)


def probe_table(paths, probe: str, where: dict) -> tuple[pd.DataFrame, str]:
    name, _, quantity = probe.partition(":")
    table = summarize.load(paths, name)
    table = select(table, where)
    if "quantity" in table:
        quantities = plotting.order(table["quantity"].unique())
        if quantity not in quantities:
            raise UserError(f"--probe {probe}: choose a quantity of {name}: {', '.join(map(str, quantities))}")
        table = table[table["quantity"] == quantity]
    return table, quantity or name


def plot(paths, save: Path, kinds=("lr", "curves"), metric: str | None = None, best: bool = False,
         hue: str = "optimizer", col: str | None = None, row: str | None = None, probe: str | None = None,
         where: dict | None = None) -> Path:
    """Draw `kinds` (module docstring) from the runs in `paths` into `save` (.png, .svg, .pdf)."""
    save = Path(save)
    if save.suffix.lower() not in FORMATS:
        raise UserError(f"--save {save}: the file must end in {', '.join(FORMATS)}")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise UserError(f"--kind {bad[0]!r} is not allowed; choose from {', '.join(KINDS)}")
    if "probe" in kinds and not probe:
        raise UserError("--kind probe needs --probe TABLE:QUANTITY, e.g. norms:grad_to_weights")
    where = where or {}
    metrics = summarize.load(paths)
    metrics = select(metrics, {k: v for k, v in where.items() if k in metrics or "probe" not in kinds})
    metric = metric or summarize.default_metric(metrics)
    if metric not in set(metrics["metric"]):
        raise UserError(f"--metric {metric!r}: these runs recorded {', '.join(sorted(set(metrics['metric'])))}")
    tables = {k: metrics for k in kinds if k != "probe"}
    if "probe" in kinds:
        tables["probe"], quantity = probe_table(paths, probe, where)
    for name, option in ((hue, "--hue"), (col, "--col"), (row, "--row")):
        for frame in tables.values():
            _check_field(frame, name, option)
    cols = plotting.order(metrics[col].unique()) if col else [None]
    rows = plotting.order(metrics[row].unique()) if row else [None]
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):
        fig, axes = plt.subplots(len(kinds) * len(rows), len(cols), figsize=(4.4 * len(cols), 3.4 * len(kinds) * len(rows)),
                                 squeeze=False, layout="constrained")
        for k, kind in enumerate(kinds):
            for i, r in enumerate(rows):
                for j, c in enumerate(cols):
                    ax = axes[k * len(rows) + i, j]
                    part = tables[kind]
                    part = part[part[row] == r] if row else part
                    part = part[part[col] == c] if col else part
                    title = ", ".join(f"{n}={v}" for n, v in ((row, r), (col, c)) if n)
                    if part.empty:
                        ax.set_axis_off()
                        continue
                    note = ""
                    if kind == "lr":
                        draw_lr(ax, part, metric, best, hue)
                    elif kind == "curves":
                        note = draw_curves(ax, part, metric, best, hue)
                    else:
                        runs = metrics[metrics["run"].isin(part["run"])]
                        part, note = at_best_lr(part, runs, metric, best, hue)
                        draw_probe(ax, part, quantity, hue)
                    ax.set_title((title + note).strip(", "))
                    plotting.legend(ax, fontsize="small", title=hue)
        fig.suptitle("bands: mean ± 2 s.e. over seeds (log axes: in log space); × diverged", fontsize="small")
        save.parent.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context({"svg.hashsalt": "toylab"}):
            fig.savefig(save, dpi=120, bbox_inches="tight", metadata=METADATA[save.suffix.lower()])
    plt.close(fig)
    return save
