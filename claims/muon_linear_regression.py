"""C13 (003 ch. 7, docs/claims.md): Muon against AdamW, SGD (momentum) and Signum on multi-output least squares.

Per setting (κ, D, batch), lr schedule and optimizer, each run's value is its final metric (the
spec's `metric`, excess loss by default; `checks.final_values`), values below the precision
`floor` set to it; each optimizer's lr is tuned on the tuning seeds (`tune_seeds`,
`checks.best_points`). Which optimizer wins where is the question of `claims/muon_where.py`
(`C13-where-*`: `toylab compare`'s held-out protocol, one axis at a time); this report shows the
lr grids, the curves and the spectra. `C13-ns-flatten` (the lab's hypothesis): Newton–Schulz
flattens the spectrum, the per-seed median over probed steps of σ_max/σ_min of O_t below that of
G_t by the margin in every setting, paired over all seeds. From the spectra probe, for Muon at its tuned lr: the singular values of G_t and of the
Newton–Schulz output O_t over training, and the map σ_i(M_t)/‖M_t‖_F ↦ σ_i(O_t) against the
scalar quintic iterated `ns_steps` times (dashed), which is what NS does to each singular value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from toylab import checks, plotting
from toylab.analyses import THEORY, Analysis, Figure, mean_std, new_figure
from toylab.optim.orthogonalize import singular_value_map

SPEC = '''
title = "Muon vs AdamW vs SGD vs SignSGD on multi-output linear regression"
claim = "C13"
question = """Muon orthogonalises the momentum of the gradient G_t = 2Xᵀ(XW − Y) with a \
Newton–Schulz iteration. On least squares with an ill-conditioned input covariance (κ), one or \
many outputs (D), mini-batch or full batch, when does it beat AdamW, SGD with momentum and \
Signum at their best learning rates (constant, and with a cosine decay to 0), and what do the singular values of G_t and of the \
Newton–Schulz output say about why?"""
metric = "excess_loss"
floor = 1e-10   # final losses below it are ties at the precision floor (float32 runs reach ≈1e-13)
margin = 0.1    # C13-ns-flatten: O_t's spread must be below e^−0.1 of G_t's
steps = 500
seeds = [0, 1, 2, 3, 4]
tune_seeds = [0, 1]   # each optimizer's lr is chosen on these
metric_every = 10
probes = ["spectra"]
probe_every = 50   # the spectra figures need Muon's spectra over training, not every step

[[problems]]  # mean reduction so one lr grid serves both batch sizes
name = "linear_regression"
d = 16
D = [4, 16]
condition_number = [1.0, 100.0]
n_train = 256
batch_size = [32, 0]
reduction = "mean"
noise = 0.1

[[optimizers]]  # nesterov off: the NS input is then the momentum buffer the probe records
name = "muon"
schedules = {lr = ["constant", "cosine"]}
lr = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
momentum = 0.95
nesterov = false
weight_decay = 0.0

[[optimizers]]
name = "adamw"
schedules = {lr = ["constant", "cosine"]}
lr = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0]  # 3.0: the cosine full-batch best was at 1.0, the edge
weight_decay = 0.0

[[optimizers]]
name = "sgd"
schedules = {lr = ["constant", "cosine"]}
lr = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0]  # both ends were a best
momentum = 0.9

[[optimizers]]  # Signum
name = "signsgd"
schedules = {lr = ["constant", "cosine"]}
lr = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
momentum = 0.9

[quick]
steps = 20
seeds = [0, 1, 2, 3]
tune_seeds = [0, 1]
metric_every = 5
probe_every = 5

[[quick.problems]]
name = "linear_regression"
d = 8
D = 4
condition_number = 100.0
n_train = 64
batch_size = [16, 0]
reduction = "mean"
noise = 0.1

[[quick.optimizers]]
name = "muon"
schedules = {lr = ["constant", "cosine"]}
lr = [1e-2, 1e-1, 1.0]
momentum = 0.95
nesterov = false
weight_decay = 0.0

[[quick.optimizers]]
name = "adamw"
schedules = {lr = ["constant", "cosine"]}
lr = [1e-2, 1e-1, 1.0]
weight_decay = 0.0

[[quick.optimizers]]
name = "sgd"
schedules = {lr = ["constant", "cosine"]}
lr = [1e-2, 1e-1, 1.0]
momentum = 0.9

[[quick.optimizers]]
name = "signsgd"
schedules = {lr = ["constant", "cosine"]}
lr = [1e-3, 1e-2, 1e-1]
momentum = 0.9
'''
SETTINGS = {"metric": "excess_loss", "floor": 1e-10, "margin": 0.1, "tune_seeds": ...}
KEYS = ["setting", "schedule", "optimizer"]


def label(frame: pd.DataFrame) -> pd.DataFrame:
    batch = np.where(frame["batch_size"] == 0, "full batch", "batch " + frame["batch_size"].astype(str))
    setting = "κ=" + frame["condition_number"].map("{:g}".format) + ", D=" + frame["D"].astype(str) + ", " + batch
    schedule = frame["lr_schedule"].fillna("constant").str.split(":").str[0] if "lr_schedule" in frame else "constant"
    return frame.assign(setting=setting, schedule=schedule)


def tuned_lrs(final: pd.DataFrame, tune_seeds, floor: float) -> pd.DataFrame:
    """Each optimizer's lr per (setting, schedule), tuned on the tuning seeds (`best_points` rows by KEYS)."""
    final = final.assign(value=final["value"].clip(lower=floor))
    return checks.best_points(final[final["seed"].isin(tune_seeds)], "lr", KEYS).set_index(KEYS)


def ns_flattens(spread: pd.DataFrame, margin: float) -> list:
    """C13-ns-flatten per setting: σ_max/σ_min of O_t below that of G_t by the margin, paired over seeds."""
    check = checks.Check("C13", "C13-ns-flatten", "spread ratio (σ_max/σ_min of O_t) / (σ_max/σ_min of G_t)",
                         "per seed, the median over probed steps of each spread, Muon at its tuned constant lr",
                         "Newton–Schulz flattens the spectrum (ratio < e^−margin) in every setting", margin, kind="hypothesis")
    return checks.headline(check, [checks.ordering(check, g["direction"], g["grad"], group=setting)
                                   for setting, g in spread.groupby("setting")])


def analyze(tables, spec) -> Analysis:
    metric, floor = spec.settings["metric"], spec.settings["floor"]
    metrics = label(tables["metrics"])
    final = checks.final_values(metrics, metric)
    best, outcomes = tuned_lrs(final, spec.settings["tune_seeds"], floor), []
    settings = sorted(final["setting"].unique())
    ncols = (len(settings) + 1) // 2
    fig_curves, ax_curves = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    fig_lr, ax_lr = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    for i, setting in enumerate(settings):
        for (schedule, opt), b in best.loc[setting].iterrows():
            name = opt + ("" if schedule == "constant" else f" {schedule}")  # the colour key: `muon`, `muon cosine`
            style = dict(color=plotting.color(name), linestyle="-" if schedule == "constant" else "--")
            grid = final[(final["setting"] == setting) & (final["schedule"] == schedule) & (final["optimizer"] == opt)]
            runs = grid.loc[grid["lr"] == b["best"], "run"]
            plotting.seed_band(ax_curves.flat[i], metrics[metrics["run"].isin(runs) & (metrics["metric"] == metric)],
                               "step", "value", log=True, label=f"{name} (lr {b['best']:g})", **style)
            s = plotting.seed_band(ax_lr.flat[i], grid.assign(value=grid["value"].clip(lower=floor)), "lr", "value",
                                   log=True, label=name, marker="o", markersize=3, **style).set_index("lr")
            if b["best"] in s.index:
                plotting.mark_best(ax_lr.flat[i], b["best"], s.loc[b["best"], "centre"], name=name, label="tuned lr (★)")
        ax_curves.flat[i].set(yscale="log", xlabel="step", ylabel=f"{metric} (per example)", title=setting)
        plotting.theory_line(ax_lr.flat[i], floor, f"floor {floor:g}")
        ax_lr.flat[i].set(xscale="log", yscale="log", xlabel="learning rate η", ylabel=f"final {metric}", title=setting)
        plotting.legend(ax_curves.flat[i], fontsize="xx-small")
    plotting.legend(ax_lr.flat[0], fontsize="xx-small")
    at = final.join(best["best"], on=KEYS).query("lr == best")
    table = (at.groupby([*KEYS, "best"])["value"].apply(mean_std).rename(f"final {metric} at tuned lr, all seeds "
             "(mean ± std)").reset_index().join(best["at_edge"], on=KEYS).rename(columns={"best": "tuned lr"}))
    figures = [Figure("curves", fig_curves, f"{metric} over training at each optimizer's tuned lr, per setting (band: "
                      "±2 s.e. of the log over all seeds; solid constant lr, dashed cosine)."),
               Figure("lr_grid", fig_lr, f"Final {metric} against the learning rate (band: ±2 s.e. of the log over all "
                      f"seeds; values below the floor {floor:g} drawn at it); ×: an lr where a seed diverged; ★: the lr "
                      "tuned on the tuning seeds.")]
    numbers = {"best lr at a grid edge": "; ".join(f"{o} ({s}) in {k} (lr {b:g})" for (k, s, o), b in
                                                   best.loc[best["at_edge"], "best"].items()) or "none"}
    notes = [f"Seed 003 ch. 7 sets the problem: L(W) = ‖Y − XW‖_F², G_t = 2X_tᵀ(X_tW_t − Y_t) — which holds (this lab "
             "averages over the batch, dividing both by N). Two of its definitions are wrong as printed and are used "
             "here in their corrected form: ‖A‖_F := Σ|a_ij|² is ‖A‖_F² (the norm has a square root), and vec(XW) = "
             "(I_D ⊗ X)vec(W), not (𝟙_D ⊗ X)vec(W). 003 asks where Muon helps: the map, with held-out seeds and "
             "intervals, is the report [muon_where](../muon_where/report.md) (`C13-where-*`).",
             f"Losses below {floor:g} are ties at the precision floor (float32 parameters: the full-batch runs of AdamW "
             f"and SGD reach ≈1e-13). Lrs tuned on seeds {spec.settings['tune_seeds']}."]
    if "spectra" in tables and not tables["spectra"].empty:
        spectra = label(tables["spectra"]).query("optimizer == 'muon' and schedule == 'constant'")
        spectra = spectra[spectra["run"].isin(at["run"])]
        fig_s, cond, decay, spread = spectra_over_training(spectra, settings, ncols)
        outcomes = ns_flattens(spread, spec.settings["margin"])
        figures += [fig_s, ns_map(spectra)]
        numbers |= {f"median σ_max/σ_min of G_t / O_t, {s}": f"{cond.loc[s, 'grad']:.3g} / {cond.loc[s, 'direction']:.3g}"
                    for s in settings}
        numbers |= {f"σ_max last/first step, G_t / O_t, {s}": f"{decay.loc[s, 'grad']:.3g} / {decay.loc[s, 'direction']:.3g}"
                    for s in settings}
        notes.append("Why, from the spectra (constant lr): Newton–Schulz flattens the spectrum and keeps σ_max of O_t "
                     "near 1 while σ_max of G_t shrinks (numbers above), so Muon takes full-size steps near the optimum "
                     "and stalls at an lr-set floor, where SGD's step shrinks with G_t.")
    else:
        notes.append("*The spectra probe table is missing, so the singular-value figures are not shown.*")
    return Analysis(figures=figures, table=table, numbers=numbers, notes=notes, checks=outcomes)


def spectra_over_training(spectra: pd.DataFrame, settings: list[str], ncols: int):
    """σ_max and σ_min of G_t and of O_t over training; the figure, median σ_max/σ_min, σ_max last/first and
    the per-seed median σ_max/σ_min (columns grad, direction per setting and seed)."""
    ext = (spectra[spectra["quantity"].isin(["grad", "direction"])].groupby(["setting", "seed", "run", "step", "quantity"])
           ["value"].agg(["max", "min"]).reset_index())
    cond = (ext["max"] / ext["min"]).groupby([ext["setting"], ext["quantity"]]).median().unstack()
    spread = (ext["max"] / ext["min"]).groupby([ext["setting"], ext["seed"], ext["quantity"]]).median().unstack().reset_index()
    ends = ext.groupby(["setting", "quantity", "step"])["max"].median().reset_index().sort_values("step").groupby(
        ["setting", "quantity"])["max"]
    long = ext.melt(id_vars=["setting", "seed", "run", "step", "quantity"], value_vars=["max", "min"], var_name="σ")
    long["line"] = long["quantity"].map({"grad": "G_t", "direction": "O_t = NS(M_t)"}) + " σ_" + long["σ"]
    fig, axes = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    for ax, setting in zip(axes.flat, settings):
        plotting.seed_band(ax, long[(long["setting"] == setting) & (long["value"] > 0)], "step", "value", hue="line", log=True)
        plotting.theory_line(ax, 1.0, "1 (orthogonal target)")
        ax.set(xlabel="step", ylabel="singular value", title=setting)
    plotting.legend(axes.flat[0], fontsize="xx-small")
    caption = ("Largest and smallest singular values of the gradient G_t and of the Newton–Schulz output O_t for Muon "
               "at its tuned constant lr (band: ±2 s.e. of the log over seeds); dashed: 1, the orthogonal target.")
    return Figure("spectra", fig, caption), cond, (ends.last() / ends.first()).unstack(), spread


def ns_map(spectra: pd.DataFrame) -> Figure:
    """Input σ_i(M_t)/‖M_t‖_F against output σ_i(O_t), every probed step, with the quintic (dashed)."""
    wide = spectra[spectra["quantity"].isin(["momentum", "direction"])].pivot_table(  # seed first: draw order
        index=["setting", "seed", "run", "step", "index"], columns="quantity", values="value").reset_index()
    wide["input"] = wide["momentum"] / wide.groupby(["run", "step"])["momentum"].transform(lambda s: np.sqrt((s**2).sum()))
    fig, axes = new_figure(width=5.0, height=3.6)
    ax = axes[0, 0]
    sns.scatterplot(wide, x="input", y="direction", hue="setting", s=8, alpha=0.5, linewidth=0, ax=ax)
    x = np.geomspace(max(wide["input"].min(), 1e-6), 1.0, 200)
    ax.plot(x, singular_value_map(x, "newton_schulz", 5), **THEORY, label="5 quintic NS steps")
    ax.set(xscale="log", xlabel="input singular value σ_i(M_t)/‖M_t‖_F", ylabel="output singular value σ_i(O_t)")
    ax.legend(fontsize="x-small", markerscale=2)
    caption = ("What Newton–Schulz does to the spectrum: each singular value of the (Frobenius-normalised) momentum "
               "against the output's singular value of the same rank; dashed: the scalar quintic map. Ranks are "
               "re-sorted by NS where the map is not monotone, so in the band around 1 the points spread over the "
               "curve's range rather than on it.")
    return Figure("ns_map", fig, caption)
