"""docs/claims.md C13: Muon against AdamW, SGD (momentum) and Signum on multi-output least squares.

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

from dataclasses import replace

import numpy as np
import pandas as pd
import seaborn as sns

from .. import checks, plotting
from ..checks import Check
from . import THEORY, Analysis, Figure, mean_std, new_figure

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"metric": "excess_loss", "floor": 1e-10, "margin": 0.1}

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


def log_band(ax, frame: pd.DataFrame, x: str, label, color, linestyle="-", marker=None) -> pd.DataFrame:
    """Seed band of `value` against `x` in log space (`plotting.seed_band`), one line; its stats by x."""
    stats = plotting.seed_band(ax, frame, x, "value", log=True, label=label, color=color, linestyle=linestyle,
                               marker=marker, markersize=3)
    return stats.set_index(x)


def best_lrs(final: pd.DataFrame) -> pd.DataFrame:
    """Per (setting, optimizer): the lr with the lowest seed-mean log final value (an lr where any seed
    exploded never wins), and whether it sits at an edge of that optimizer's lr grid."""
    rows = []
    for (setting, opt), f in final.groupby(["setting", "optimizer"], sort=True):
        grid = np.sort(f["lr"].unique())
        score = f.groupby("lr")["value"].apply(lambda v: np.log(v).mean() if np.isfinite(v).all() else np.inf)
        lr = float(score.idxmin())
        rows.append({"setting": setting, "optimizer": opt, "lr": lr, "edge": lr in (grid[0], grid[-1]),
                     "log_mean": float(score.min())})
    return pd.DataFrame(rows)


def muon_best(final: pd.DataFrame, best: pd.DataFrame, floor: float, margin: float) -> list:
    """C13-muon-best per (setting, schedule): Muon at its best lr against the best other optimizer at its
    best lr, paired over seeds; values below `floor` are set to it (ties at the precision floor)."""
    check = Check("C13", "C13-muon-best", "final loss ratio Muon / best other",
                  f"per seed, final excess loss of each at its own best lr (losses < {floor:g} set to {floor:g}); "
                  "geometric mean of the paired ratio", "Muon best (ratio < 1/(1+margin))", margin, kind="hypothesis")
    outs = []
    for (setting, kind), b in best.assign(kind=best["optimizer"].str.partition(", ")[2]).groupby(["setting", "kind"]):
        muon = b[b["optimizer"].str.partition(", ")[0] == "muon"]
        others = b[b["optimizer"].str.partition(", ")[0] != "muon"].sort_values("log_mean")
        if muon.empty or others.empty:
            continue
        m, o = muon.iloc[0], others.iloc[0]

        def at(row):
            f = final[(final["setting"] == setting) & (final["optimizer"] == row["optimizer"]) & (final["lr"] == row["lr"])]
            return f.set_index("seed")["value"].clip(lower=floor).sort_index()

        a, c = at(m), at(o)
        group = f"{setting}, {kind or 'constant'} lr, vs {o['optimizer']}"
        out = checks.ordering(check, a.to_numpy(), c.reindex(a.index).to_numpy(), group=group)
        # an edge best lr matters only where a better off-grid lr could change the verdict
        edge = [f"{r['optimizer']} (lr {r['lr']:g})" for r, could in ((m, out.verdict != "holds"),
                                                                     (o, out.verdict != "fails")) if r["edge"] and could]
        if (a <= floor).all() and (c <= floor).all():
            out = replace(out, verdict="fails", reason=f"tied: both at the floor {floor:g} on every seed")
        elif edge:
            out = replace(out, verdict="inconclusive", reason=f"best lr at the grid edge: {', '.join(edge)}; "
                                                              f"would be {out.verdict}: {out.reason}")
        outs.append(out)
    if not outs:
        return []
    verdicts = {o.verdict for o in outs}
    verdict = "holds" if "holds" in verdicts else "fails" if verdicts == {"fails"} else "inconclusive"
    lead = min(outs, key=lambda o: o.measured)
    counts = ", ".join(f"{sum(o.verdict == v for o in outs)} {v}" for v in ("holds", "fails", "inconclusive"))
    head = replace(lead, group="", verdict=verdict,
                   reason=f"Muon best in any setting? over {len(outs)} settings: {counts}; Muon's best ratio in "
                          f"[{lead.group}]: {lead.reason}")
    return outs + [head]


def analyze(tables, spec) -> Analysis:
    metric = spec.settings.get("metric", "excess_loss")
    floor = spec.settings.get("floor", 1e-10)
    metrics = tables["metrics"]
    metrics["setting"] = setting_of(metrics)
    metrics["method"] = metrics["optimizer"]
    metrics["optimizer"] = variant_of(metrics)
    metrics["lr schedule"] = metrics["optimizer"].str.partition(", ")[2].replace("", "constant")
    final = checks.final_values(metrics, metric)
    best = best_lrs(final)
    outs = muon_best(final, best, floor, spec.settings.get("margin", 0.1))
    settings = sorted(final["setting"].unique())
    styles = {"constant": "-", "cosine": "--"}
    ncols = (len(settings) + 1) // 2

    fig_curves, ax_curves = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    fig_lr, ax_lr = new_figure(ncols, 2, width=3.6, height=3.0, sharey=True)
    for i, setting in enumerate(settings):
        for b in best[best["setting"] == setting].itertuples():
            method, _, kind = b.optimizer.partition(", ")
            name = f"{method} {kind}".strip()  # the plotting colour key: `muon`, `muon cosine`
            style = dict(color=plotting.color(name), linestyle=styles.get(kind or "constant", ":"))
            runs = final[(final["setting"] == setting) & (final["optimizer"] == b.optimizer) & (final["lr"] == b.lr)]["run"]
            curve = metrics[metrics["run"].isin(runs) & (metrics["metric"] == metric)]
            log_band(ax_curves.flat[i], curve, "step", f"{b.optimizer} (lr {b.lr:g})", **style)
            grid = final[(final["setting"] == setting) & (final["optimizer"] == b.optimizer)]
            ax = ax_lr.flat[i]
            s = log_band(ax, grid.assign(value=grid["value"].clip(lower=floor)), "lr", b.optimizer, marker="o", **style)
            if b.lr in s.index:
                plotting.mark_best(ax, b.lr, s.loc[b.lr, "centre"], name=name, label="best lr (★)")
        ax_curves.flat[i].set(yscale="log", xlabel="step", ylabel=f"{metric} (per example)", title=setting)
        plotting.theory_line(ax_lr.flat[i], floor, f"floor {floor:g}")
        ax_lr.flat[i].set(xscale="log", yscale="log", xlabel="learning rate η", ylabel=f"final {metric}", title=setting)
        plotting.legend(ax_curves.flat[i], fontsize="xx-small")
    plotting.legend(ax_lr.flat[0], fontsize="xx-small")

    at_best = final.merge(best[["setting", "optimizer", "lr", "edge"]], on=["setting", "optimizer", "lr"])
    table = (at_best.groupby(["setting", "optimizer", "lr", "edge"])["value"].apply(mean_std)
             .rename(f"final {metric} at best lr (mean ± std)").reset_index()
             .rename(columns={"lr": "best lr", "edge": "at grid edge"}))
    numbers = {f"C13-muon-best [{o.group}]": f"{o.verdict}: ratio {o.measured:.3g} [{o.ci_low:.3g}, {o.ci_high:.3g}]"
               for o in outs if o.group}
    edges = best[best["edge"]]
    numbers["best lr at a grid edge"] = ("; ".join(f"{r.optimizer} in {r.setting} (lr {r.lr:g})" for r in edges.itertuples())
                                         or "none")
    verdict = [" ".join(f"{o.check.id}: **{o.verdict}** ({o.reason})." for o in outs if not o.group)]

    figures = [Figure("curves", fig_curves, f"{metric} over training at each optimizer's best lr, per setting "
                      "(band: ±2 s.e. of the log over seeds; solid constant lr, dashed cosine)."),
               Figure("lr_grid", fig_lr, f"Final {metric} against the learning rate (band: ±2 s.e. of the log over "
                      f"seeds; values below the floor {floor:g} drawn at it). ×: an lr where a seed diverged "
                      "(`checks.final_values`; not plotted as data); ★: the chosen best lr.")]
    notes = [f"Losses below {floor:g} are ties at the precision floor (float32 parameters: the full-batch runs of "
             "AdamW and SGD reach ≈1e-13), never wins."]
    if "spectra" in tables and not tables["spectra"].empty:
        spectra = tables["spectra"]
        spectra = spectra[variant_of(spectra) == "muon"].copy()
        spectra["setting"] = setting_of(spectra)
        spectra = spectra[spectra["run"].isin(at_best["run"])]
        fig_s, cond, decay = spectra_over_training(spectra, settings, ncols)
        fig_map = ns_map(spectra)
        figures += [fig_s, fig_map]
        for s in settings:
            numbers[f"median σ_max/σ_min of G_t / of O_t, {s}"] = (f"{cond.loc[s, 'grad']:.3g} / "
                                                                    f"{cond.loc[s, 'direction']:.3g}")
            numbers[f"σ_max last/first step, G_t / O_t, {s}"] = (f"{decay.loc[s, 'grad']:.3g} / "
                                                                 f"{decay.loc[s, 'direction']:.3g}")
        means = best.pivot(index="setting", columns="optimizer", values="log_mean").map(np.exp)
        full = [s for s in settings if "full" in s]
        verdict.append(
            f"Why, from the spectra: Newton–Schulz flattens the spectrum (median σ_max/σ_min of its output "
            f"{cond['direction'].min():.3g}–{cond['direction'].max():.3g}, of G_t {cond['grad'].min():.3g}–"
            f"{cond['grad'].max():.3g}) and keeps it at unit scale: over training σ_max of G_t falls to "
            f"{decay['grad'].min():.2g}–{decay['grad'].max():.2g} of its first value while σ_max of O_t stays at "
            f"{decay['direction'].min():.2g}–{decay['direction'].max():.2g} of its own. With a constant lr Muon "
            f"therefore takes full-size steps near the optimum and stalls at an lr-set floor, where SGD's step "
            f"shrinks with G_t (full batch, SGD reaches {means['sgd'][full].max():.2g} "
            f"excess loss or less, {len(full)} settings).")
    else:
        notes.append("*The spectra probe table is missing, so the singular-value figures are not shown.*")
    return Analysis(figures=figures, table=table, numbers=numbers, verdict="\n\n".join(verdict), notes=notes,
                    checks=outs)


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
    lines = sorted(long["line"].unique())
    for i, setting in enumerate(settings):
        ax = axes.flat[i]
        here = long[(long["setting"] == setting) & (long["value"] > 0)]
        for j, line in enumerate(lines):
            log_band(ax, here[here["line"] == line], "step", line, f"C{j}")
        plotting.theory_line(ax, 1.0, "1 (orthogonal target)")
        ax.set(yscale="log", xlabel="step", ylabel="singular value", title=setting)
        if i == 0:
            plotting.legend(ax, fontsize="xx-small")
    caption = ("Largest and smallest singular values of the gradient G_t and of the Newton–Schulz output O_t "
               "for Muon at its best lr (band: ±2 s.e. of the log over seeds); dashed: 1, the orthogonal target.")
    return Figure("spectra", fig, caption), cond, decay


def ns_map(spectra: pd.DataFrame) -> Figure:
    """Input σ_i(M_t)/‖M_t‖_F against output σ_i(O_t), every probed step, with the quintic (dashed)."""
    wide = spectra[spectra["quantity"].isin(["momentum", "direction"])].pivot_table(  # seed first: draw order
        index=["setting", "seed", "run", "step", "index"], columns="quantity", values="value").reset_index()
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
