"""docs/claims.md C12: KL(p‖q) between the gradient's law p and Adam's moments q over training.

From the moments probe (per coordinate; variances floored relative to each Gaussian's own
second moment, see `probes/moments.py`): p is the
minibatch statistics N(ḡ_t, diag Var_t/B) or the population law of G_t, q = N(m_t, diag(v_t −
m_t²)) raw or bias-corrected. Reports KL per coordinate over training for the β1 × β2 grid, its
mean over the second half of training (a heat map per moments × reference), and how many
coordinates of v_t − m_t² had to be floored.

Checks, one group per (β1, β2), one value per seed (the mean KL per coordinate over a window of
probes, p from the minibatch statistics unless said otherwise):
`C12-bc-early`: over the first `early` steps the bias-corrected moments are closer to p than the
raw ones (ordering, paired over seeds); `C12-bc-late`: over the second half of training raw and
bias-corrected KL agree within `tolerance` (relative, KL_raw/KL_bc = 1), which needs the window to
start after 5 timescales 1/(1−β1) and 1/(1−β2) (else inconclusive); `C12-population`: late, the
bias-corrected q is closer to the population law of G_t than to the batch's own statistics (ordering).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from .. import checks, estimators, plotting
from . import Analysis, Figure, new_figure

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"early": 20, "tolerance": 0.05}

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

    early_end = spec.settings.get("early", 20)
    # KL over training, β2 as hue, β1 as panels; one row per moments
    beta1s = sorted(kl["β1"].unique())
    ref = kl[kl["reference"] == references[0]]
    fig_t, ax_t = new_figure(len(beta1s), len(moments), width=3.6, height=3.0, sharey=True)
    for r, which in enumerate(moments):
        for c, b1 in enumerate(beta1s):
            ax = ax_t[r, c]
            rows = ref[(ref["moments"] == which) & (ref["β1"] == b1)]
            ax.set(xscale="log", yscale="log")
            plotting.seed_band(ax, rows.assign(β2=rows["β2"].map("β2 = {:g}".format)), x="step", y="value", hue="β2")
            ax.axvspan(1, early_end, color="0.93", zorder=0, label="early window")
            ax.axvspan(steps / 2, steps, color="0.85", zorder=0, label="late window")
            ax.set(xlabel="step", ylabel="KL(p‖q) per coordinate [nats]", title=f"{which} moments, β1={b1:g}")
            if r == c == 0:
                plotting.legend(ax, fontsize="xx-small")

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

    outcomes = kl_checks(kl, references, steps, early_end, spec.settings.get("tolerance", 0.05))

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
    heads = [o for o in outcomes if not o.group]
    verdict.insert(0, " ".join(
        f"**{o.check.id} {o.verdict}** ({o.check.prediction}: "
        + ", ".join(f"{sum(g.verdict == v for g in outcomes if g.check.id == o.check.id and g.group)} {v}"
                    for v in checks.VERDICTS) + " over the β settings)." for o in heads))
    figures = [Figure("kl_over_training", fig_t, f"KL(p‖q) per coordinate, p from the {references[0]} statistics, "
                      "over training (line: geometric mean over seeds, band ×/÷ 2 s.e.); shaded: the early and late "
                      "windows of the checks."),
               Figure("kl_late_heatmap", fig_h, "Mean KL per coordinate over the second half of training, for "
                      "raw and bias-corrected moments against the minibatch and population statistics."),
               Figure("floored", fig_f, "Share of coordinates where v_t − m_t² was at or below the floor δ·v_t.")]
    return Analysis(figures=figures, table=table, numbers=numbers, verdict="\n\n".join(verdict), checks=outcomes)


def kl_checks(kl: pd.DataFrame, references: list[str], steps: int, early_end: float, tol: float) -> list:
    """C12-bc-early, C12-bc-late, C12-population (module docstring), each combined over the β settings."""
    def per_seed(moments, reference, a, b, rows):
        sel = rows[(rows["moments"] == moments) & (rows["reference"] == reference)]
        return estimators.window(sel, a, b).sort_index()

    mb = references[0]
    early = checks.Check("C12", "C12-bc-early", "KL(p‖q_bc)/KL(p‖q_raw)", f"mean KL per coordinate over the probes "
                         f"at steps 1–{early_end:g}, per seed, p = {mb} statistics", "bias-corrected q closer (ratio < 1)", 0.0, kind="hypothesis")
    late = checks.Check("C12", "C12-bc-late", "KL(p‖q_raw)/KL(p‖q_bc)", f"mean KL per coordinate over steps "
                        f"{steps / 2:g}–{steps}, per seed, ratio raw/bias-corrected, p = {mb} statistics",
                        "raw = bias-corrected once (1−β^t) ≈ 1", tol, kind="hypothesis")
    pop = checks.Check("C12", "C12-population", "KL(pop‖q_bc)/KL(batch‖q_bc)", f"mean KL per coordinate over steps "
                       f"{steps / 2:g}–{steps}, per seed", "q closer to the population law than to the batch", 0.0, kind="hypothesis")
    found = {"C12-bc-early": [], "C12-bc-late": [], "C12-population": []}
    for (b1, b2), rows in kl.groupby(["β1", "β2"]):
        group = f"β=({b1:g}, {b2:g})"
        found["C12-bc-early"].append(checks.ordering(early, per_seed("bias_corrected", mb, 1, early_end, rows),
                                                     per_seed("raw", mb, 1, early_end, rows), group=group))
        start = steps / 2
        slow = max(1 / (1 - b1) if b1 < 1 else np.inf, 1 / (1 - b2))
        regime = checks.Regime(start >= 5 * slow, f"window starts at {start / slow:.2g} timescales max(1/(1−β1), 1/(1−β2)) "
                               f"({'≥' if start >= 5 * slow else '<'} 5)")
        ratio = per_seed("raw", mb, start, steps, rows) / per_seed("bias_corrected", mb, start, steps, rows)
        found["C12-bc-late"].append(checks.equivalence(late, ratio, 1.0, group=group, regime=regime))
        if "population" in references:
            found["C12-population"].append(checks.ordering(
                pop, per_seed("bias_corrected", "population", start, steps, rows),
                per_seed("bias_corrected", mb, start, steps, rows), group=group))
    heads = {"C12-bc-early": early, "C12-bc-late": late, "C12-population": pop}
    return [o for cid, groups in found.items() if groups for o in (checks.combine(heads[cid], groups), *groups)]
