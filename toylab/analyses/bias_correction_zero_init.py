"""docs/claims.md C11: AdamW's four variants, bias correction (BC) × zero initialisation (ZI).

Per problem and (β, λ) setting, each run's value is its loss averaged over the last 10 % of steps
(+inf if it diverged); each variant is taken at its best lr (smallest seed-mean value). Checks:
`C11-first-step`, the RMS of the first direction u₁ = m̂₁/(√v̂₁ + ε) (norms probe, step 1) against
the case analysis |m̂₁|/√v̂₁ (`theory.first_step_moments`, g = 1), one group per variant and setting;
`C11-ordering`, the notepad's ranking ZI+BC < ZI no BC < no ZI no BC < no ZI + BC as three adjacent
"a < b" comparisons paired over seeds (same seed = same data and initial point); `C11-init`, "both
zero-init variants beat both others" (per seed, the worse ZI variant against the better non-ZI
one). An ordering is inconclusive when some variant's best lr sits at an edge of the lr grid.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from .. import checks, plotting, theory
from . import THEORY, Analysis, Figure, mean_std, new_figure

VARIANTS = {(True, True): "ZI+BC", (True, False): "ZI, no BC", (False, False): "no ZI, no BC", (False, True): "no ZI, BC"}
NOTEPAD_ORDER = list(VARIANTS.values())  # best first, as in the notepad's table


def label(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["variant"] = [VARIANTS[(z, b)] for z, b in zip(frame["zero_init"], frame["bias_correction"])]
    frame["setting"] = "β=(" + frame["betas"] + "), λ=" + frame["weight_decay"].map("{:g}".format)
    return frame


def first_step_theory(setting_betas: str) -> dict[str, float]:
    """RMS(u₁) = |m̂₁|/√v̂₁ per variant for g = 1 (ε → 0), from the C11 case analysis."""
    beta1, beta2 = map(float, setting_betas.split(","))
    out = {}
    for (zi, bc), name in VARIANTS.items():
        m1, v1 = theory.first_step_moments(zi, bc, beta1, beta2, 1.0)
        out[name] = abs(m1) / v1**0.5
    return out


def final_window(metrics: pd.DataFrame, fraction: float = 0.1) -> pd.DataFrame:
    """One row per run: config columns and `value`, the mean loss over the last `fraction` of steps
    (+inf for a diverged run)."""
    loss = metrics[metrics["metric"] == "loss"]
    late = loss[loss["step"] >= (1 - fraction) * loss["step"].max()]
    value = late.groupby("run")["value"].mean()
    runs = loss.drop_duplicates("run").set_index("run").drop(columns=["metric", "step", "value"])
    out = runs.assign(value=value).reset_index()
    out.loc[out["diverged"] | ~np.isfinite(out["value"]), "value"] = np.inf
    return out


def analyze(tables, spec) -> Analysis:
    metrics = label(tables["metrics"])
    final = final_window(metrics)
    keys = ["problem", "setting"]
    steps = int(metrics["step"].max())
    grid = sorted(final["lr"].unique())
    panels = final[keys].drop_duplicates().sort_values(keys).values.tolist()
    est = f"loss averaged over steps {0.9 * steps:g}–{steps} per seed, each variant at its best lr"
    order_check = checks.Check("C11", "C11-ordering", "loss(a)/loss(b), geometric mean over seeds", est,
                               "a < b for adjacent variants of ZI+BC < ZI, no BC < no ZI, no BC < no ZI, BC", 0.0)
    init_check = checks.Check("C11", "C11-init", "worse ZI / better non-ZI loss", est,
                              "both ZI variants below both non-ZI variants", 0.0)
    orderings, inits, rows = [], [], []
    fig_lr, ax_lr = new_figure(len(panels), height=3.4)
    fig_curves, ax_curves = new_figure(len(panels), height=3.4)
    for i, (problem, setting) in enumerate(panels):
        here = final[(final["problem"] == problem) & (final["setting"] == setting)]
        mean = here.groupby(["variant", "lr"])["value"].mean().unstack()
        best = {v: float(mean.loc[v].idxmin()) for v in NOTEPAD_ORDER}
        at_best = {v: here[(here["variant"] == v) & (here["lr"] == best[v])].set_index("seed")["value"].sort_index()
                   for v in NOTEPAD_ORDER}
        edge = [v for v in NOTEPAD_ORDER if best[v] in (grid[0], grid[-1])]
        regime = checks.Regime(not edge, "best lr inside the grid for every variant" if not edge else
                               f"best lr at the grid edge [{grid[0]:g} … {grid[-1]:g}] for {', '.join(edge)}")
        for a, b in zip(NOTEPAD_ORDER, NOTEPAD_ORDER[1:]):
            orderings.append(checks.ordering(order_check, at_best[a], at_best[b], regime=regime,
                                             group=f"{problem} {setting}: {a} < {b}"))
        zi = pd.concat([at_best["ZI+BC"], at_best["ZI, no BC"]], axis=1).max(axis=1)
        no_zi = pd.concat([at_best["no ZI, BC"], at_best["no ZI, no BC"]], axis=1).min(axis=1)
        inits.append(checks.ordering(init_check, zi, no_zi, regime=regime, group=f"{problem} {setting}"))
        for v in NOTEPAD_ORDER:
            rows.append({"problem": problem, "setting": setting, "variant": v, "best lr": best[v],
                         "at grid edge": best[v] in (grid[0], grid[-1]),
                         "final loss (mean ± std)": mean_std(at_best[v])})
        ax = ax_lr[0, i]
        ax.set(xscale="log", yscale="log")
        plotting.seed_band(ax, here, x="lr", y="value", hue="variant", marker="o")
        for v in NOTEPAD_ORDER:
            plotting.mark_best(ax, best[v], float(np.exp(np.log(at_best[v]).mean())), name=v,
                               label="best lr per variant")
        ax.set(xlabel="learning rate η", ylabel="loss, mean of the last 10 % of steps", title=f"{problem}\n{setting}")
        plotting.legend(ax, fontsize="xx-small")
        runs = here[[here_lr == best[v] for v, here_lr in zip(here["variant"], here["lr"])]]["run"]
        curves = metrics[metrics["run"].isin(runs) & (metrics["metric"] == "loss")]
        ax = ax_curves[0, i]
        ax.set(yscale="log")
        plotting.seed_band(ax, curves, x="step", y="value", hue="variant")
        ax.set(xlabel="step", ylabel="loss", title=f"{problem}\n{setting} (best lr per variant)")
        plotting.legend(ax, fontsize="xx-small")
    outcomes = [checks.combine(order_check, orderings), *orderings, checks.combine(init_check, inits), *inits]
    table = pd.DataFrame(rows)

    figures = [Figure("final_loss_vs_lr", fig_lr, "Late loss (mean over the last 10 % of steps) against the learning "
                      "rate for the four variants (line: geometric mean over seeds, band ×/÷ 2 s.e.; ×: diverged; "
                      "star: each variant's best lr)."),
               Figure("curves_best_lr", fig_curves, "Loss over training at each variant's best learning rate "
                      "(geometric mean over seeds, band ×/÷ 2 s.e.).")]
    numbers, notes = {}, []
    if "norms" in tables and not tables["norms"].empty:
        figure, first, first_checks = first_step(label(tables["norms"]), spec.extra.get("first_step_tolerance", 1e-3))
        figures.insert(1, figure)
        outcomes = first_checks + outcomes
        for r in first.itertuples():
            numbers[f"RMS(u₁) {r.setting}, {r.variant} (measured / theory)"] = f"{r.measured:.4g} / {r.theory:.4g}"
    else:
        notes.append("*The norms probe table is missing, so the first-step check is not shown.*")
    verdict = summarize(outcomes, len(panels), grid)
    return Analysis(figures=figures, table=table, numbers=numbers, verdict=verdict, notes=notes, checks=outcomes)


def summarize(outcomes, panels: int, grid) -> str:
    heads = {o.check.id: o for o in outcomes if not o.group}
    parts = []
    for cid, what in (("C11-first-step", "the first direction follows the case analysis"),
                      ("C11-ordering", "the notepad's ordering ZI+BC < ZI, no BC < no ZI, no BC < no ZI, BC"),
                      ("C11-init", "\"initialisation matters more than bias correction\" (both ZI variants ahead)")):
        if cid not in heads:
            continue
        groups = [o for o in outcomes if o.check.id == cid and o.group]
        counts = ", ".join(f"{sum(o.verdict == v for o in groups)} {v}" for v in checks.VERDICTS)
        parts.append(f"**{cid} {heads[cid].verdict}**: {what} ({counts} over {len(groups)} comparisons).")
    edge = [o for o in outcomes if o.group and "grid edge" in o.reason]
    parts.append(f"Comparisons are paired over seeds at each variant's best lr on the grid [{grid[0]:g} … {grid[-1]:g}], "
                 f"over {panels} problem × (β, λ) panels; {len({o.group.split(':')[0] for o in edge})} panels have a "
                 f"best lr at the grid edge and are inconclusive.")
    return " ".join(parts)


def first_step(norms: pd.DataFrame, tolerance: float):
    """Measured RMS(u₁) per variant against the C11 case analysis (dashed), and its checks."""
    rows = norms[(norms["step"] == 1) & (norms["quantity"] == "rms_direction")]
    measured = rows.groupby(["setting", "betas", "variant"])["value"].mean().rename("measured").reset_index()
    measured["theory"] = [first_step_theory(b)[v] for b, v in zip(measured["betas"], measured["variant"])]
    check = checks.Check("C11", "C11-first-step", "RMS(m̂₁/(√v̂₁+ε))", "the norms probe at step 1, per seed "
                         "(all problems of a setting pooled: u₁ does not depend on the problem)", "|m̂₁|/√v̂₁, case analysis",
                         tolerance)
    groups = [checks.relative(check, g.groupby(["problem", "seed"])["value"].mean().to_numpy(),
                              first_step_theory(g["betas"].iloc[0])[variant], group=f"{setting} {variant}")
              for (setting, variant), g in rows.groupby(["setting", "variant"])]
    fig, axes = new_figure(width=5.5, height=3.6)
    ax = axes[0, 0]
    settings = sorted(rows["setting"].unique())
    sns.stripplot(rows, x="variant", y="value", hue="setting", order=NOTEPAD_ORDER, hue_order=settings, dodge=True,
                  jitter=False, ax=ax, size=4)  # no random jitter: the figure is reproducible byte for byte
    width = 0.8 / len(settings)
    for j, setting in enumerate(settings):
        for i, variant in enumerate(NOTEPAD_ORDER):
            t = measured[(measured["setting"] == setting) & (measured["variant"] == variant)]["theory"]
            x = i - 0.4 + width * (j + 0.5)
            ax.hlines(t, x - width / 2, x + width / 2, **THEORY, label="theory |m̂₁|/√v̂₁" if i + j == 0 else None)
    ax.set(yscale="log", xlabel="variant", ylabel="RMS of the first direction u₁ (per coordinate)")
    ax.legend(fontsize="small")
    caption = ("First-step direction RMS(m̂₁/(√v̂₁+ε)) per variant, every run (points), against the case "
               "analysis of C11 (dashed).")
    return Figure("first_step", fig, caption), measured.drop(columns="betas"), [checks.combine(check, groups), *groups]
