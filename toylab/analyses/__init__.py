"""Analyses: what a report's `analyze(tables, spec)` returns (`Analysis`), and the plotting
conventions every report shares. A claim file (`claims/<name>.py`, `toylab.claims`) declares its
analysis; the modules here are the analyses of spec files (`analysis = "<module>"`).

`tables` maps a table name (`metrics`, and every probe table the runs wrote, e.g. `spectra`)
to the tidy frame of `store.load_table`: one row per (run, step, metric[, index]) with the
run's config as columns. An analysis measures, plots and states a verdict — every decision
(best point, final value, verdict, headline) through `toylab.checks`; `toylab.report` writes what
it returns. The helpers below hold the plotting conventions every report shares:
seeds as bands (mean ± 2 standard errors), theory as dashed lines, log axes when data span
decades.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import schedules
from ..checks import Outcome
from ..options import UserError

if TYPE_CHECKING:  # matplotlib and seaborn are imported by the first figure, not by a listing of the claims
    import matplotlib.figure

SEED_BAND = ("se", 2)  # seaborn errorbar over seeds: mean ± 2 standard errors (≈ 95 % band)
THEORY = dict(linestyle="--", color="0.2", linewidth=1.2)


@dataclass
class Figure:
    name: str  # file stem
    figure: matplotlib.figure.Figure
    caption: str


@dataclass
class Analysis:
    figures: list[Figure]  # the first is the report's key figure (shown in index.html)
    table: pd.DataFrame  # the summary table
    numbers: dict[str, object]  # measured quantities, by name
    verdict: str = ""  # markdown, a few sentences built from `numbers`; default: one per headline check
    notes: list[str] = field(default_factory=list)  # extra markdown paragraphs (caveats, missing probes)
    checks: list[Outcome] = field(default_factory=list)  # the claim checks: rows of reports/claims.csv

    def __post_init__(self):
        if not self.verdict:
            self.verdict = " ".join(f"**{o.check.id} {o.verdict}**{f' ({o.cause})' if o.cause else ''}: {o.reason}."
                                    for o in self.checks if not o.group)


def get(name: str):
    """The `analyze` function of `toylab/analyses/<name>.py`."""
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise UserError(f"unknown analysis {name!r}: no module toylab/analyses/{name}.py") from None
    return module.analyze


# ----- shared table formats ------------------------------------------------------------------------
def mean_std(values: pd.Series) -> str:
    """`mean ± std` over seeds, the notepad's table format (`diverged` if any seed diverged)."""
    if not np.isfinite(values).all():
        return "diverged"
    return f"{values.mean():.4g} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.2g}"


def best_table(rows: pd.DataFrame, best: pd.DataFrame, by: list[str], column: str,
               best_name: str = "best lr") -> pd.DataFrame:
    """Per group of `by` (`checks.at_best`: the rows at their group's best point, `best` indexed by
    `by`): the best point (`best_name`), the rows' `mean_std` (`column`) and `at_edge`."""
    return (rows.groupby([*by, "best"])["value"].apply(mean_std).rename(column).reset_index()
            .join(best["at_edge"], on=by).rename(columns={"best": best_name}))


# ----- shared plotting -----------------------------------------------------------------------------
def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.2, **kw):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                             layout="constrained", **kw)
    return fig, axes


def new_panels(n: int, ncols: int = 3, width: float = 3.8, height: float = 3.2, **kw):
    """A figure for n panels, at most `ncols` to a row (`plotting.panel_bands` hides the unused)."""
    cols = max(1, min(ncols, n))
    return new_figure(cols, math.ceil(n / cols), width=width, height=height, **kw)


def log_if_decades(ax, values, axis: str = "y", decades: float = 1.5) -> None:
    """Log scale on `axis` when the positive finite `values` span more than `decades` decades."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) and np.log10(v.max() / v.min()) > decades:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def setting_label(row: pd.Series | dict, names: list[str]) -> str:
    """`linear_regression, condition_number=100, D=16`: the problem and the options that vary."""
    parts = [f"{n}={row[n]:g}" if isinstance(row[n], float) else f"{n}={row[n]}" for n in names]
    return ", ".join([row["problem"], *parts])


# ----- shared labels -------------------------------------------------------------------------------
def pair_first(pair: str) -> float:
    """β1 from a `betas` column (`"0.9,0.95"`)."""
    return float(str(pair).split(",")[0])


def regression_setting(frame: pd.DataFrame) -> pd.Series:
    """Per row of linear-regression runs: `κ=100, D=16, batch 32` (`full batch` where batch_size = 0)."""
    g = lambda column: frame[column].map("{:g}".format, na_action="ignore")  # noqa: E731
    batch = pd.Series(np.where(frame["batch_size"] == 0, "full batch", "batch " + g("batch_size")), frame.index)
    return "κ=" + g("condition_number") + ", D=" + g("D") + ", " + batch


def weight_shape(frame: pd.DataFrame) -> list[str]:
    """Per row, the shape m×n of the problem's weight matrix: (d + 1)×D for linear regression (the bias
    as a row), d_out×d_in otherwise (the scale-invariant problem)."""
    lin = frame["problem"] == "linear_regression"
    rows, cols = np.where(lin, frame["d"] + 1, frame["d_out"]), np.where(lin, frame["D"], frame["d_in"])
    return [f"{m:g}×{n:g}" for m, n in zip(rows, cols)]


def with_schedule(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `schedule`, the lr schedule's name (`cosine` for `cosine:…`, `constant` where none
    is set), and `name`, the colour key of `plotting.COLORS` (`muon`, `muon cosine`)."""
    schedule = frame.get("lr_schedule", pd.Series("constant", frame.index)).fillna("constant").str.split(":").str[0]
    return frame.assign(schedule=schedule, name=frame["optimizer"] + (" " + schedule).where(schedule != "constant", ""))


def schedule_label(spec: str) -> str:
    """`amos quadratic T=51.8`, `cosine`, … from an lr schedule spec: its kind, and an Amos schedule's
    form and half-life."""
    s = schedules.parse(spec)
    p = dict(s.params)
    return f"amos {p['form']} T={p['half_life']:.3g}" if s.kind == "amos" else s.kind
