"""C13 (003 ch. 7, docs/claims.md): Muon against AdamW, SGD (momentum) and Signum on multi-output least squares.

Per setting (κ, D, batch), lr schedule and optimizer, each run's value is its final metric (the
spec's `metric`, excess loss by default; `checks.final_values`), values below the precision
`floor` set to it; each optimizer's lr is tuned on the tuning seeds (`tune_seeds`,
`checks.best_points`). Which optimizer wins where is the question of `claims/muon_where.py`
(`C13-where-*`: `toylab compare`'s held-out protocol, one axis at a time); this report shows the
lr grids, the curves and the spectra. `C13-ns-flatten` (the lab's hypothesis): Newton–Schulz
flattens the spectrum, the per-seed median over probed steps of σ_max/σ_min of O_t below that of
G_t by the margin in every setting, paired over all seeds. From the spectra probe, for Muon at
its tuned lr: the singular values of G_t and of the Newton–Schulz output O_t over training, and the map σ_i(M_t)/‖M_t‖_F ↦ σ_i(O_t) against the
scalar quintic iterated `ns_steps` times (dashed), which is what NS does to each singular value.
"""
import numpy as np
import pandas as pd
import seaborn as sns

from toylab import checks, estimators, plotting
from toylab.analyses import Analysis, Figure, best_table, new_figure, new_panels, regression_setting, with_schedule
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
    """Per row the setting (`κ=100, D=16, batch 32`), the lr schedule and the colour key `name`."""
    return with_schedule(frame).assign(setting=regression_setting(frame))


def analyze(tables, spec) -> Analysis:
    metric, floor = spec.settings["metric"], spec.settings["floor"]
    metrics = label(tables["metrics"])
    final = checks.final_values(metrics, metric)
    clipped = final.assign(value=final["value"].clip(lower=floor))  # ties at the precision floor
    tuning = clipped[clipped["seed"].isin(spec.settings["tune_seeds"])]
    best = checks.best_points(tuning, "lr", [*KEYS, "name"]).set_index(KEYS)  # each lr tuned on the tuning seeds
    at = final.join(best["best"], on=KEYS).query("lr == best")
    panels = dict(n=final["setting"].nunique(), ncols=4, width=3.6, height=3.0, sharey=True)
    fig_curves, ax_curves = new_panels(**panels)
    fig_lr, ax_lr = new_panels(**panels)
    for ax in ax_lr.flat:
        plotting.theory_line(ax, floor, f"floor {floor:g}")
    curves = metrics[metrics["run"].isin(at["run"]) & (metrics["metric"] == metric)]
    for schedule in sorted(final["schedule"].unique()):  # solid: constant lr, dashed: a schedule
        style = dict(log=True, linestyle="-" if schedule == "constant" else "--", legend_kw={"fontsize": "xx-small"})
        plotting.panel_bands(ax_curves, curves[curves["schedule"] == schedule], "setting", "step", "value", "name",
                             ylabel=f"{metric} (per example)", **style)
        plotting.panel_bands(ax_lr, clipped[clipped["schedule"] == schedule], "setting", "lr", "value", "name",
                             best.reset_index().set_index(["setting", "name"]), xlabel="learning rate η",
                             ylabel=f"final {metric}", xscale="log", marker="o", markersize=3, **style)
    plotting.one_legend(ax_lr)
    table = best_table(at, best, KEYS, f"final {metric} at tuned lr, all seeds (mean ± std)", best_name="tuned lr")
    figures = [Figure("curves", fig_curves, f"{metric} over training at each optimizer's tuned lr, per setting (band: "
                      "±2 s.e. of the log over all seeds; solid constant lr, dashed cosine)."),
               Figure("lr_grid", fig_lr, f"Final {metric} against the learning rate (band: ±2 s.e. of the log over all "
                      f"seeds; values below the floor {floor:g} drawn at it); ×: an lr where a seed diverged; ★: the "
                      "lr tuned on the tuning seeds.")]
    numbers = {"best lr at a grid edge": "; ".join(f"{o} ({s}) in {k} (lr {b:g})" for (k, s, o), b in
                                                   best.loc[best["at_edge"], "best"].items()) or "none"}
    notes, outcomes = [note.format(**spec.settings) for note in NOTES], []
    if "spectra" in tables and not tables["spectra"].empty:
        spectra = label(tables["spectra"]).query("optimizer == 'muon' and schedule == 'constant' and run in @at.run")
        ext = estimators.singular_extremes(spectra.query("quantity in ('grad', 'direction')"), ["setting", "seed"])
        flatten = checks.Check("C13", "C13-ns-flatten", "spread ratio (σ_max/σ_min of O_t) / (σ_max/σ_min of G_t)",
                               "per seed, the median over probed steps of each spread, Muon at its tuned constant lr",
                               "Newton–Schulz flattens the spectrum (ratio < e^−margin) in every setting",
                               spec.settings["margin"], kind="hypothesis")
        spread = estimators.spread_and_growth(ext, ["setting"])["spread"]
        outcomes = checks.headline(flatten, checks.orderings(flatten, spread, "direction", "grad", "setting"))
        fig, axes = new_panels(**panels)
        plotting.extreme_bands(axes, ext, "setting", {"grad": "G_t", "direction": "O_t = NS(M_t)"},
                               target_label="1 (orthogonal target)", ylabel="singular value")
        figures += [Figure("spectra", fig, "Largest and smallest singular values of the gradient G_t and of the "
                           "Newton–Schulz output O_t for Muon at its tuned constant lr (band: ±2 s.e. of the log over "
                           "seeds); dashed: 1, the orthogonal target."), ns_map(spectra)]
        cond = (ext["max"] / ext["min"]).groupby([ext["setting"], ext["quantity"]]).median().unstack()
        ends = ext.groupby(["setting", "quantity", "step"])["max"].median().unstack("step")  # median over seeds
        for key, per in (("median σ_max/σ_min of G_t / O_t", cond),
                         ("σ_max last/first step, G_t / O_t", (ends.iloc[:, -1] / ends.iloc[:, 0]).unstack())):
            numbers |= {f"{key}, {s}": f"{per.loc[s, 'grad']:.3g} / {per.loc[s, 'direction']:.3g}" for s in per.index}
    else:  # in place of NOTES' last paragraph, which reads the spectra
        notes[-1] = "*The spectra probe table is missing, so the singular-value figures are not shown.*"
    return Analysis(figures=figures, table=table, numbers=numbers, notes=notes, checks=outcomes)


NOTES = ["Seed 003 ch. 7 sets the problem: L(W) = ‖Y − XW‖_F², G_t = 2X_tᵀ(X_tW_t − Y_t) — which holds (this lab "
         "averages over the batch, dividing both by N). Two of its definitions are wrong as printed and are used "
         "here in their corrected form: ‖A‖_F := Σ|a_ij|² is ‖A‖_F² (the norm has a square root), and vec(XW) = "
         "(I_D ⊗ X)vec(W), not (𝟙_D ⊗ X)vec(W). 003 asks where Muon helps: the map, with held-out seeds and "
         "intervals, is the report [muon_where](../muon_where/report.md) (`C13-where-*`).",
         "Losses below {floor:g} are ties at the precision floor (float32 parameters: the full-batch runs of AdamW "
         "and SGD reach ≈1e-13). Lrs tuned on seeds {tune_seeds}.",
         "Why, from the spectra (constant lr): Newton–Schulz flattens the spectrum and keeps σ_max of O_t near 1 while "
         "σ_max of G_t shrinks (numbers above), so Muon takes full-size steps near the optimum and stalls at an lr-set "
         "floor, where SGD's step shrinks with G_t."]


def ns_map(spectra: pd.DataFrame) -> Figure:
    """Input σ_i(M_t)/‖M_t‖_F against output σ_i(O_t), every probed step, with the quintic (dashed)."""
    # seed before run: points are drawn in seed order
    wide = estimators.paired_spectra(spectra, "momentum", "direction", ["setting", "seed"], normalise=True)
    fig, axes = new_figure(width=5.0, height=3.6)
    ax = axes[0, 0]
    sns.scatterplot(wide, x="input", y="output", hue="setting", s=8, alpha=0.5, linewidth=0, ax=ax)
    x = np.geomspace(max(wide["input"].min(), 1e-6), 1.0, 200)
    ax.plot(x, singular_value_map(x, "newton_schulz", 5), **plotting.THEORY, label="5 quintic NS steps")
    ax.set(xscale="log", xlabel="input singular value σ_i(M_t)/‖M_t‖_F", ylabel="output singular value σ_i(O_t)")
    ax.legend(fontsize="x-small", markerscale=2)
    caption = ("What Newton–Schulz does to the spectrum: each singular value of the (Frobenius-normalised) momentum "
               "against the output's singular value of the same rank; dashed: the scalar quintic map. Ranks are "
               "re-sorted by NS where the map is not monotone, so in the band around 1 the points spread over the "
               "curve's range rather than on it.")
    return Figure("ns_map", fig, caption)
