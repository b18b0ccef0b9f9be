"""The default analysis: final loss against lr per optimizer, and learning curves at the best lr.

Works for any problem with a `loss` metric; the spec's `metric` key picks another one. A
problem-option axis of the spec (a list in `[[problems]]`) becomes one panel per value.
"""
from __future__ import annotations

import seaborn as sns

from .. import checks
from . import SEED_BAND, Analysis, Figure, log_if_decades, mean_std, new_figure, setting_label

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"metric": "loss"}


def analyze(tables, spec) -> Analysis:
    metric = spec.settings["metric"]
    metrics = tables["metrics"]
    axes = spec.varying("problems")
    metrics["setting"] = metrics.apply(lambda r: setting_label(r, axes), axis=1)
    final = checks.final_values(metrics, metric)
    best = checks.best_points(final, "lr", ["setting", "optimizer"]).rename(columns={"best": "lr"})
    settings = sorted(final["setting"].unique())

    fig_lr, ax_lr = new_figure(len(settings))
    fig_curve, ax_curve = new_figure(len(settings))
    for i, setting in enumerate(settings):
        f = final[(final["setting"] == setting) & final["value"].map(lambda v: v < float("inf"))]
        ax = ax_lr[0, i]
        sns.lineplot(f, x="lr", y="value", hue="optimizer", marker="o", errorbar=SEED_BAND, ax=ax)
        ax.set(xscale="log", xlabel="learning rate η", ylabel=f"final {metric}", title=setting)
        log_if_decades(ax, f["value"])
        chosen = best[best["setting"] == setting]
        rows = metrics[(metrics["setting"] == setting) & (metrics["metric"] == metric)]
        rows = rows.merge(chosen[["optimizer", "lr"]], on=["optimizer", "lr"])
        ax = ax_curve[0, i]
        sns.lineplot(rows, x="step", y="value", hue="optimizer", errorbar=SEED_BAND, ax=ax)
        ax.set(xlabel="step", ylabel=metric, title=setting)
        log_if_decades(ax, rows["value"])

    table = (final.groupby(["setting", "optimizer", "lr"])["value"].apply(mean_std)
             .rename(f"final {metric} (mean ± std)").reset_index())
    winner = best.sort_values("value").groupby("setting").head(1)
    numbers = {f"best final {metric}, {r.setting}": f"{r.optimizer} at lr={r.lr:g}: {r.value:.4g}"
               for r in winner.itertuples()}
    verdict = " ".join(f"On {r.setting}, {r.optimizer} (lr={r.lr:g}) reaches the lowest mean final {metric}, "
                       f"{r.value:.4g}." for r in winner.itertuples())
    return Analysis(
        figures=[Figure("curves", fig_curve, f"{metric} over training at each optimizer's best lr (band: ±2 s.e. over seeds)"),
                 Figure("lr_grid", fig_lr, f"final {metric} against the learning rate (band: ±2 s.e. over seeds)")],
        table=table, numbers=numbers, verdict=verdict)
