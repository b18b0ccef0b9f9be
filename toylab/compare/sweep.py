"""The comparison protocol on a report's sweep: every setting already run on every seed, so
`protocol.held_out` tunes on the tuning seeds and the tuned settings are compared on the others.

    finals      per run the final value of its problem's own metric, its initial value, and the
                optimizer by its label (`protocol.optimizer_label`: muon, normuon, adamw, …)
    held_out    the tuned settings' runs and, per problem, each optimizer's tuned lr and the best
                of the `others` on the tuning seeds (the one a claim about an optimizer faces)
    ordering    `checks.ordering` of two tuned optimizers on the held-out seeds, paired, each
                final value capped at the run's initial value (a diverged run counts as it)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import checks
from . import protocol


def finals(metrics: pd.DataFrame, floor: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per run with its config columns, `optimizer` its label, `final` the last value of its
    problem's own metric — excess_loss where the problem records it, else loss; ∞ diverged
    (`checks.final_values`) — and `initial` its first; that metric's rows). Values below `floor`
    (the runs' precision) are set to it, so two runs that both reach it tie."""
    own = metrics.groupby("problem")["metric"].agg(lambda m: "excess_loss" if "excess_loss" in set(m) else "loss")
    rows = metrics[metrics["metric"] == metrics["problem"].map(own)].assign(value=lambda f: f["value"].clip(lower=floor))
    runs = checks.final_values(rows).rename(columns={"value": "final"})
    first = rows.sort_values("step").groupby("run")["value"].first()
    return runs.assign(optimizer=protocol.optimizer_labels(runs), initial=runs["run"].map(first)), rows


def held_out(runs: pd.DataFrame, rows: pd.DataFrame, tune_seeds, others) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`protocol.held_out` of `finals` (its `problem` column: what tuning is per), each lr a setting.
    Returns the runs of the tuned settings (`role` tune or score) and, indexed by (problem,
    optimizer), the tuned settings with `other`: the problem's best of `others`, lowest
    geometric-mean final value on the tuning seeds at its tuned lr (`checks.best_points`)."""
    _, tuned, runs = protocol.held_out(runs.assign(setting=runs["lr"], budget=runs["steps"]), rows, tune_seeds)
    at = runs[runs["tuned"]]
    tune = at[(at["role"] == "tune") & at["optimizer"].isin(others)]
    best = checks.best_points(tune.assign(value=tune["final"]), "optimizer", ["problem"]).set_index("problem")["best"]
    return at, tuned.assign(other=tuned["problem"].map(best)).set_index(["problem", "optimizer"])


def ordering(check: checks.Check, runs: pd.DataFrame, tuned: pd.DataFrame, a: str, b: str, group: str = ""):
    """`checks.ordering` "a beats b" on the held-out `runs` of one problem (b = "other": its best
    other), paired over seeds, final values capped at the initial value; inconclusive (grid edge)
    when either tuned lr sits at its grid's edge."""
    problem = runs["problem"].iloc[0]
    b = tuned.at[(problem, a), "other"] if b == "other" else b
    wide = runs.assign(v=np.minimum(runs["final"], runs["initial"])).pivot_table("v", "seed", "optimizer")
    return checks.ordering(check, wide[a], wide[b], group, checks.interior(tuned.loc[problem], [a, b]))


def orderings(check: checks.Check, runs: pd.DataFrame, tuned: pd.DataFrame, a: str, b: str, by: str) -> list:
    """`ordering` per group of `by` (its value names the group), in order of appearance; the
    runs of a group must be of one problem."""
    return [ordering(check, g, tuned, a, b, group) for group, g in runs.groupby(by, sort=False)]


def one_at_a_time(runs: pd.DataFrame, base: dict, axes: dict, family: str, own: tuple = ()) -> pd.DataFrame:
    """Regions of a sweep that varies one axis at a time around a `base` setting of the problem
    `family`: per run its region (one problem setting: `base`, `κ=1000`, or another problem's
    name) and, once per axis it lies on, the axis and group. `axes`: column → (axis, symbol). A
    run of the family lies on the axes where it differs from `base`, the base on every axis but
    those in `own` (an axis whose values replace the base's setting, not vary it: its runs lie on
    it alone); a run of another problem on the axis `problem`."""
    rows = []  # one per (run, axis)
    for r in runs.itertuples():
        differ = [k for k in axes if r.problem == family and getattr(r, k) != base[k]]
        owned = [k for k in own if k in differ]
        on = ["problem"] if r.problem != family else owned[:1] or differ or [k for k in axes if k not in own]
        region = r.problem if on == ["problem"] else f"{axes[on[0]][1]}={getattr(r, on[0]):g}" if differ else "base"
        rows += [{"run": r.run, "region": region, "axis": axes.get(k, ("problem",))[0],
                  "at": 0 if k == "problem" else getattr(r, k),
                  "group": region if k == "problem" else f"{axes[k][1]}={getattr(r, k):g}"} for k in on]
    return pd.DataFrame(rows)
