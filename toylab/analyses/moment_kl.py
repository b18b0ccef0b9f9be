"""SCIENCE.md C12: KL(p‖q) between the gradient's law p and Adam's moments q over training.

From the moments probe (per coordinate; variances floored relative to each Gaussian's own
second moment, see `probes/moments.py`): p is the
minibatch statistics N(ḡ_t, diag Var_t/B) or the population law of G_t, q = N(m_t, diag(v_t −
m_t²)) raw or bias-corrected. Reports KL per coordinate over training for the β1 × β2 grid, its
mean over the second half of training (a heat map per moments × reference), and how many
coordinates of v_t − m_t² had to be floored. Dashed lines mark the EMA timescales 1/(1−β).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from . import SEED_BAND, THEORY, Analysis, Figure, new_figure

KL = "kl_pq_per_coord"


def analyze(tables, spec) -> Analysis:
    if "moments" not in tables or tables["moments"].empty:
        raise ValueError("moment_kl needs the moments probe: add probes = [\"moments\"] to the spec")
    mom = tables["moments"]
    betas = mom["betas"].str.split(",", expand=True).astype(float)
    mom = mom.assign(β1=betas[0], β2=betas[1])
    steps = mom["step"].max()
    kl = mom[mom["quantity"] == KL]
    references = [r for r in ("minibatch", "population") if r in set(kl["reference"])]
    moments = ["raw", "bias_corrected"]

    # KL over training, β2 as hue, β1 as panels; one row per moments
    beta1s = sorted(kl["β1"].unique())
    ref = kl[kl["reference"] == references[0]]
    fig_t, ax_t = new_figure(len(beta1s), len(moments), width=3.6, height=3.0, sharey=True)
    for r, which in enumerate(moments):
        for c, b1 in enumerate(beta1s):
            ax = ax_t[r, c]
            rows = ref[(ref["moments"] == which) & (ref["β1"] == b1)]
            sns.lineplot(rows, x="step", y="value", hue="β2", palette="viridis", errorbar=SEED_BAND, ax=ax,
                         legend=r == c == 0)
            for b2 in sorted(rows["β2"].unique()):
                if 1 / (1 - b2) <= steps:
                    ax.axvline(1 / (1 - b2), **THEORY, alpha=0.5)
            ax.set(xscale="log", yscale="log", xlabel="step", ylabel="KL(p‖q) per coordinate [nats]",
                   title=f"{which} moments, β1={b1:g}")

    # late-training mean KL: β1 × β2 heat maps per moments × reference
    late = kl[kl["step"] > steps / 2]
    grid = late.groupby(["moments", "reference", "β1", "β2"])["value"].mean().reset_index()
    fig_h, ax_h = new_figure(len(references), len(moments), width=3.4, height=2.9)
    for r, which in enumerate(moments):
        for c, reference in enumerate(references):
            heat = grid[(grid["moments"] == which) & (grid["reference"] == reference)].pivot(
                index="β1", columns="β2", values="value")
            sns.heatmap(np.log10(heat), annot=heat.map(lambda v: f"{v:.2g}"), fmt="", cmap="mako_r", ax=ax_h[r, c],
                        cbar_kws={"label": "log₁₀ KL per coordinate"})
            ax_h[r, c].set(title=f"{which} vs {reference}", xlabel="β2", ylabel="β1")

    floored = mom[(mom["quantity"] == "floored_fraction") & (mom["reference"] == references[0])]
    fig_f, ax_f = new_figure(len(moments), width=3.8, height=3.0, sharey=True)
    for c, which in enumerate(moments):
        ax = ax_f[0, c]
        sns.lineplot(floored[floored["moments"] == which], x="step", y="value", hue="β2", style="β1",
                     palette="viridis", errorbar=None, ax=ax, legend=c == 0)
        ax.set(xscale="log", xlabel="step", ylabel="share of coordinates floored (v − m² ≤ δv)", title=which)

    # numbers
    table = grid.pivot_table(index=["β1", "β2"], columns=["moments", "reference"], values="value")
    table.columns = [f"KL/coord, {m} vs {r}" for m, r in table.columns]
    early = kl[kl["step"] <= max(10, steps // 20)].groupby(["moments", "reference", "β1", "β2"])["value"].mean()
    table = table.reset_index()
    fl = floored.groupby(["β1", "β2"])["value"].mean().rename("mean floored share").reset_index()
    table = table.merge(fl, on=["β1", "β2"])

    main = grid[grid["reference"] == references[0]]
    bc = main[main["moments"] == "bias_corrected"].set_index(["β1", "β2"])["value"]
    raw = main[main["moments"] == "raw"].set_index(["β1", "β2"])["value"]
    best = bc.idxmin()
    early_ratio = (early["raw", references[0]] / early["bias_corrected", references[0]])
    numbers = {
        f"lowest late KL/coord (bias-corrected vs {references[0]})": f"β=({best[0]:g}, {best[1]:g}): {bc[best]:.3g}",
        f"highest late KL/coord (bias-corrected vs {references[0]})": f"β=({bc.idxmax()[0]:g}, {bc.idxmax()[1]:g}): {bc.max():.3g}",
        "late KL raw / bias-corrected (median over betas)": f"{(raw / bc).median():.3g}",
        "early KL raw / bias-corrected (median over betas)": f"{early_ratio.median():.3g}",
        "mean floored share of v − m² (all betas, all steps)": f"{floored['value'].mean():.2%}",
    }
    by_b1 = bc.groupby(level=0).mean()
    by_b2 = bc.groupby(level=1).mean()
    numbers["late KL/coord by β1 (mean over β2)"] = ", ".join(f"{k:g}: {v:.3g}" for k, v in by_b1.items())
    numbers["late KL/coord by β2 (mean over β1)"] = ", ".join(f"{k:g}: {v:.3g}" for k, v in by_b2.items())
    verdict = [
        f"Late in training the bias-corrected KL per coordinate ranges from {bc.min():.3g} (β=({best[0]:g}, {best[1]:g})) to "
        f"{bc.max():.3g}. Averaged over β2 it is {', '.join(f'{v:.3g} at β1={k:g}' for k, v in by_b1.items())}; "
        f"averaged over β1 it is {', '.join(f'{v:.3g} at β2={k:g}' for k, v in by_b2.items())} "
        f"(a {by_b1.max() / by_b1.min():.3g}× range across β1, {by_b2.max() / by_b2.min():.3g}× across β2).",
        f"Bias correction matters early (median raw/corrected KL ratio {early_ratio.median():.3g} in the first "
        f"steps) and {'hardly' if abs((raw / bc).median() - 1) < 0.1 else 'still'} late "
        f"(median ratio {(raw / bc).median():.3g}).",
    ]
    if "population" in references:
        pop = grid[(grid["moments"] == "bias_corrected") & (grid["reference"] == "population")].set_index(["β1", "β2"])["value"]
        numbers["late KL/coord vs population / vs minibatch (median)"] = f"{(pop / bc).median():.3g}"
        verdict.append(f"Against the population law of G_t instead of the batch's own statistics, the late KL is "
                       f"{(pop / bc).median():.3g}× the minibatch one (median over betas).")
    figures = [Figure("kl_over_training", fig_t, f"KL(p‖q) per coordinate, p from the {references[0]} statistics, "
                      "over training (band: ±2 s.e. over seeds); dashed: the timescales 1/(1−β2)."),
               Figure("kl_late_heatmap", fig_h, "Mean KL per coordinate over the second half of training, for "
                      "raw and bias-corrected moments against the minibatch and population statistics."),
               Figure("floored", fig_f, "Share of coordinates where v_t − m_t² was at or below the floor δ·v_t.")]
    return Analysis(figures=figures, table=table, numbers=numbers, verdict="\n\n".join(verdict))
