"""SCIENCE.md C13: Muon against AdamW, SGD (momentum) and Signum on multi-output least squares.

Per setting (κ, D, batch) and optimizer (with its lr schedule, when the spec sweeps schedules):
the lr with the lowest mean final metric (the spec's `metric`, default excess loss), learning
curves at that lr over seeds, and the lr grid itself.
From the spectra probe, for Muon at its best lr: the singular values of G_t and of the
Newton–Schulz output O_t over training, and the map σ_i(M_t)/‖M_t‖_F ↦ σ_i(O_t) from the NS
input (the momentum buffer; nesterov is off) to its output, against the scalar quintic
x ↦ a x + b x³ + c x⁵ iterated `ns_steps` times (dashed), which is what NS does to each
singular value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from . import SEED_BAND, THEORY, Analysis, Figure, best_by, final_values, log_if_decades, mean_std, new_figure

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def ns_singular_value_map(x: np.ndarray, coefficients=NS_COEFFICIENTS, steps: int = 5) -> np.ndarray:
    """What `steps` quintic Newton–Schulz iterations do to a singular value x of X/‖X‖_F."""
    a, b, c = coefficients
    for _ in range(steps):
        x = a * x + b * x**3 + c * x**5
    return x


def setting_of(frame: pd.DataFrame) -> pd.Series:
    batch = np.where(frame["batch_size"] == 0, "full batch", "batch " + frame["batch_size"].astype(str))
    return "κ=" + frame["condition_number"].map("{:g}".format) + ", D=" + frame["D"].astype(str) + ", " + batch


def variant_of(frame: pd.DataFrame) -> pd.Series:
    """The optimizer, with its lr schedule named when it is not constant (e.g. `muon, cosine`)."""
    if "lr_schedule" not in frame:
        return frame["optimizer"]
    kind = frame["lr_schedule"].fillna("constant").str.split(":").str[0]
    return frame["optimizer"].where(kind == "constant", frame["optimizer"] + ", " + kind)


def analyze(tables, spec) -> Analysis:
    metric = spec.extra.get("metric", "excess_loss")
    metrics = tables["metrics"]
    metrics["setting"] = setting_of(metrics)
    variant = variant_of(metrics)  # colour: the optimizer; line style: its lr schedule
    metrics["lr schedule"] = variant.str.partition(", ")[2].replace("", "constant")
    metrics["method"] = metrics["optimizer"]
    metrics["optimizer"] = variant
    final = final_values(metrics, metric)
    best = best_by(final, ["setting", "optimizer"])
    at_best = final.merge(best[["setting", "optimizer", "lr"]], on=["setting", "optimizer", "lr"])
    settings = sorted(final["setting"].unique())
    order = sorted(final["method"].unique())
    styles = dict(hue="method", hue_order=order, style="lr schedule", style_order=sorted(final["lr schedule"].unique()))
    ncols = (len(settings) + 1) // 2

    fig_curves, ax_curves = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    fig_lr, ax_lr = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    for i, setting in enumerate(settings):
        ax = ax_curves.flat[i]
        runs = at_best[at_best["setting"] == setting]["run"]
        curves = metrics[metrics["run"].isin(runs) & (metrics["metric"] == metric)]
        sns.lineplot(curves, x="step", y="value", **styles, errorbar=SEED_BAND, ax=ax,
                     legend=i == 0)
        ax.set(yscale="log", xlabel="step", ylabel=f"{metric} (per example)", title=setting)
        ax = ax_lr.flat[i]
        grid = final[(final["setting"] == setting) & np.isfinite(final["value"])]
        sns.lineplot(grid, x="lr", y="value", **styles, marker="o", errorbar=SEED_BAND,
                     ax=ax, legend=i == 0)
        ax.set(xscale="log", yscale="log", xlabel="learning rate η", ylabel=f"final {metric}", title=setting)

    table = (at_best.groupby(["setting", "optimizer", "lr"])["value"].apply(mean_std)
             .rename(f"final {metric} at best lr (mean ± std)").reset_index().rename(columns={"lr": "best lr"}))
    means = best.pivot(index="setting", columns="optimizer", values="value")
    winners = means.idxmin(axis=1)
    ratio = means["adamw"] / means["muon"]  # > 1: Muon better
    numbers = {f"winner, {s}": f"{winners[s]} ({means.loc[s, winners[s]]:.3g})" for s in settings}
    numbers.update({f"AdamW / Muon final {metric}, {s}": f"{ratio[s]:.3g}" for s in settings})
    scheduled = [c.split(", ")[1] for c in means.columns if c.startswith("muon, ")]
    for kind in scheduled:
        numbers.update({f"AdamW / Muon final {metric}, both {kind} lr, {s}":
                        f"{means[f'adamw, {kind}'][s] / means[f'muon, {kind}'][s]:.3g}" for s in settings})
    wins = [s for s in settings if winners[s] == "muon"]
    beats_adam = [s for s in settings if ratio[s] > 1]
    verdict = [f"Muon has the lowest final {metric} in {len(wins)} of {len(settings)} settings"
               + (f" ({'; '.join(wins)})" if wins else "") + f", and beats AdamW in {len(beats_adam)} of "
               f"{len(settings)} ({'; '.join(beats_adam) or 'none'}). AdamW/Muon ratios of the best final {metric} "
               f"range from {ratio.min():.3g} to {ratio.max():.3g}; the overall winners are "
               + ", ".join(f"{w} ×{n}" for w, n in winners.value_counts().items()) + "."]
    for kind in scheduled:
        sched = means[f"muon, {kind}"]
        gain = means["muon"] / sched
        verdict.append(
            f"With a {kind} lr schedule Muon's best final {metric} improves by {gain.min():.3g}–{gain.max():.3g}× "
            f"over its constant-lr best; it then beats {kind}-scheduled AdamW in "
            f"{int((means[f'adamw, {kind}'] > sched).sum())} of {len(settings)} settings and is the overall "
            f"winner in {int((winners == f'muon, {kind}').sum())}.")

    figures = [Figure("curves", fig_curves, f"{metric} over training at each optimizer's best lr, per setting "
                      "(band: ±2 s.e. over seeds)."),
               Figure("lr_grid", fig_lr, f"Final {metric} against the learning rate: the grid behind the best lr "
                      "(band: ±2 s.e. over seeds; diverged runs omitted).")]
    notes = []
    if "spectra" in tables and not tables["spectra"].empty:
        spectra = tables["spectra"]
        spectra = spectra[variant_of(spectra) == "muon"].copy()
        spectra["setting"] = setting_of(spectra)
        spectra = spectra[spectra["run"].isin(at_best["run"])]
        fig_s, cond, decay = spectra_over_training(spectra, settings, ncols)
        full = [s for s in settings if "full" in s]
        mini = [s for s in settings if s not in full]
        fig_map = ns_map(spectra)
        figures += [fig_s, fig_map]
        for s in settings:
            numbers[f"median σ_max/σ_min of G_t / of O_t, {s}"] = (f"{cond.loc[s, 'grad']:.3g} / "
                                                                    f"{cond.loc[s, 'direction']:.3g}")
            numbers[f"σ_max last/first step, G_t / O_t, {s}"] = (f"{decay.loc[s, 'grad']:.3g} / "
                                                                 f"{decay.loc[s, 'direction']:.3g}")
        verdict.append(
            f"Why, from the spectra: Newton–Schulz flattens the spectrum (median σ_max/σ_min of its output "
            f"{cond['direction'].min():.3g}–{cond['direction'].max():.3g}, of G_t {cond['grad'].min():.3g}–"
            f"{cond['grad'].max():.3g}) and keeps it at unit scale: over training σ_max of G_t falls to "
            f"{decay['grad'].min():.2g}–{decay['grad'].max():.2g} of its first value while σ_max of O_t stays at "
            f"{decay['direction'].min():.2g}–{decay['direction'].max():.2g} of its own. With a constant lr Muon "
            f"therefore takes full-size steps near the optimum and stalls at an lr-set floor, where SGD's step "
            f"shrinks with G_t (full batch, SGD reaches {means['sgd'][full].max():.2g} "
            f"excess loss or less, {len(full)} settings). AdamW/Muon ratios of the best final {metric}: "
            f"mini-batch {ratio[mini].min():.2g}–{ratio[mini].max():.2g}, full batch {ratio[full].min():.2g}–"
            f"{ratio[full].max():.2g}: closest to 1 with mini-batches, where gradient noise floors every optimizer.")
    else:
        notes.append("*The spectra probe table is missing, so the singular-value figures are not shown.*")
    return Analysis(figures=figures, table=table, numbers=numbers, verdict="\n\n".join(verdict), notes=notes)


def spectra_over_training(spectra: pd.DataFrame, settings: list[str], ncols: int):
    """σ_max and σ_min of G_t and of O_t over training; returns the figure and median σ_max/σ_min."""
    rows = spectra[spectra["quantity"].isin(["grad", "direction"])]
    ext = rows.groupby(["setting", "run", "step", "quantity"])["value"].agg(["max", "min"]).reset_index()
    ext["cond"] = ext["max"] / ext["min"]
    cond = ext.groupby(["setting", "quantity"])["cond"].median().unstack()
    top = ext.groupby(["setting", "quantity", "step"])["max"].median().reset_index().sort_values("step")
    ends = top.groupby(["setting", "quantity"])["max"]
    decay = (ends.last() / ends.first()).unstack()
    long = ext.melt(id_vars=["setting", "run", "step", "quantity"], value_vars=["max", "min"], var_name="σ")
    long["line"] = long["quantity"].map({"grad": "G_t", "direction": "O_t = NS(M_t)"}) + " σ_" + long["σ"]
    fig, axes = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    for i, setting in enumerate(settings):
        ax = axes.flat[i]
        sns.lineplot(long[long["setting"] == setting], x="step", y="value", hue="line", errorbar=SEED_BAND, ax=ax,
                     legend=i == 0)
        ax.axhline(1.0, **THEORY)
        ax.set(yscale="log", xlabel="step", ylabel="singular value", title=setting)
    caption = ("Largest and smallest singular values of the gradient G_t and of the Newton–Schulz output O_t "
               "for Muon at its best lr (band: ±2 s.e. over seeds); dashed: 1, the orthogonal target.")
    return Figure("spectra", fig, caption), cond, decay


def ns_map(spectra: pd.DataFrame) -> Figure:
    """Input σ_i(M_t)/‖M_t‖_F against output σ_i(O_t), every probed step, with the quintic (dashed)."""
    wide = spectra[spectra["quantity"].isin(["momentum", "direction"])].pivot_table(
        index=["setting", "run", "step", "index"], columns="quantity", values="value").reset_index()
    frob = wide.groupby(["run", "step"])["momentum"].transform(lambda s: np.sqrt((s**2).sum()))
    wide["input"] = wide["momentum"] / frob
    fig, axes = new_figure(width=5.0, height=3.6)
    ax = axes[0, 0]
    sns.scatterplot(wide, x="input", y="direction", hue="setting", s=8, alpha=0.5, linewidth=0, ax=ax)
    x = np.geomspace(max(wide["input"].min(), 1e-6), 1.0, 200)
    ax.plot(x, ns_singular_value_map(x), **THEORY, label="5 quintic NS steps")
    ax.set(xscale="log", xlabel="input singular value σ_i(M_t)/‖M_t‖_F", ylabel="output singular value σ_i(O_t)")
    ax.legend(fontsize="x-small", markerscale=2)
    caption = ("What Newton–Schulz does to the spectrum: each singular value of the (Frobenius-normalised) "
               "momentum against the output's singular value of the same rank; dashed: the scalar quintic map. "
               "Ranks are re-sorted by NS where the map is not monotone, so in the band around 1 the points "
               "spread over the curve's range rather than on it.")
    return Figure("ns_map", fig, caption)
