"""Do the synthetic C13 and C11 findings carry over to scikit-learn's digits and diabetes?

Per problem, the metric is the training objective at the last step (`loss` on digits, the
excess loss over the closed-form optimum on diabetes); each optimizer is taken at the lr of
the grid with the lowest seed-mean final value (`checks.best_points`), and compared per seed:

    C13-real-adamw   AdamW < Muon at their best lrs (synthetic: AdamW ahead in every setting)
    C13-real-flat    σ_max/σ_min of Muon's direction O_t = NS(M_t) < that of G_t, per matrix
                     (median over the probed steps, per seed; margin: a factor 2). Both use the
                     top r singular values, r = the numerical rank of G_t (σ > 10⁻⁶·σ_max): a
                     softmax layer's gradient has a structural null direction (its class rows sum
                     to 0), which NS maps to amplified rounding, not to a direction of the data
    C13-real-unit    σ_max(O_t) at the last probed step / at the first ≈ 1 (± 50 %), while σ_max(G_t)
                     is free to shrink (its ratio is in the table)
    C11-real-init    "initialisation matters more than bias correction": the worse zero-init
                     variant (ZI+BC or ZI without BC, by seed-mean) below the better non-zero-init one
    C11-real-order   the notepad's ranking ZI+BC < ZI no BC < no ZI no BC < no ZI + BC, as three
                     paired orderings per problem

Orderings are `checks.ordering` (paired log-ratios over seeds, t-interval); a best lr at the
edge of its grid makes the group inconclusive (regime not reached). The same seeds choose the
best lr and measure it, which favours each optimizer equally.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import checks, plotting
from . import Analysis, Figure, mean_std, new_figure

METRIC = {"digits_softmax": "loss", "digits_mlp": "loss", "diabetes": "excess_loss"}
VARIANTS = {(True, True): "ZI+BC", (True, False): "ZI, no BC", (False, False): "no ZI, no BC",
            (False, True): "no ZI, BC"}  # (zero_init, bias_correction), in the notepad's order

ADAMW_VS_MUON = checks.Check("C13", "C13-real-adamw", "final training loss, AdamW / Muon at their best lrs",
                             "last step's full-training-set objective per seed, paired", "AdamW < Muon", 0.0, kind="hypothesis")
RANK = 1e-6  # singular values below RANK·σ_max count as zero (float32 runs)
FLAT = checks.Check("C13", "C13-real-flat", "σ_max/σ_min of O_t over that of G_t (Muon, best lr)",
                    "median over the probed steps of each seed's σ_1/σ_r, r = numerical rank of G_t, paired",
                    "NS output flatter than G_t by > 2×", float(np.log(2)), kind="control")
UNIT = checks.Check("C13", "C13-real-unit", "σ_max(O_t) last / first probed step (Muon, best lr)",
                    "each seed's ratio", "stays at 1", 0.5, kind="control")
INIT = checks.Check("C11", "C11-real-init", "final loss, worse zero-init variant / better non-zero-init variant",
                    "last step's objective per seed at each variant's best lr, paired",
                    "zero init matters more than bias correction", 0.0, kind="seed")
ORDER = checks.Check("C11", "C11-real-order", "final loss ratios of consecutive variants in the notepad's ranking",
                     "last step's objective per seed at each variant's best lr, paired",
                     "ZI+BC < ZI no BC < no ZI no BC < no ZI + BC", 0.0, kind="seed")


def label(frame: pd.DataFrame) -> pd.Series:
    """`muon`, `adamw`, `sgd`, `signum` for the C13 runs; the C11 variant name for the others."""
    c11 = frame["betas"].astype(str) == "0.95,0.95"
    name = frame["optimizer"].replace({"signsgd": "signum"})
    variant = [VARIANTS.get((bool(z), bool(b)), "") for z, b in zip(frame["zero_init"], frame["bias_correction"])]
    return name.where(~c11, pd.Series(variant, index=frame.index))


def at_best(final: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, dict]:
    """Per name: its seeds' final values at its best lr (index: seed), and whether that lr is inside the grid."""
    rows = final[final["name"].isin(names)]
    points = checks.best_points(rows, "lr", ["name"]).set_index("name")
    best, inside = points["best"], ~points["at_edge"]
    picked = rows[rows["lr"] == rows["name"].map(best)]
    return picked.pivot_table(index="seed", columns="name", values="value"), {"best": best, "inside": inside}


def regime(info: dict, names) -> checks.Regime:
    edge = [n for n in names if not info["inside"][n]]
    return checks.Regime(not edge, "best lr inside the grid for " + ", ".join(names) if not edge
                         else "best lr at the grid edge for " + ", ".join(edge), "grid edge")


def analyze(tables, spec) -> Analysis:
    metrics = tables["metrics"].copy()
    metrics["name"] = label(metrics)
    problems = [p for p in METRIC if p in set(metrics["problem"])]
    finals = {p: checks.final_values(metrics[metrics["problem"] == p], METRIC[p]) for p in problems}
    c13 = ["adamw", "muon", "sgd", "signum"]
    c11 = list(VARIANTS.values())
    outcomes = {k: [] for k in ("adamw", "flat", "unit", "init", "order")}
    numbers, table_rows, best = {}, [], {}
    for p in problems:
        values, info = at_best(finals[p], c13)
        best[p] = info["best"]
        winner = values.mean().idxmin()
        numbers[f"winner at best lr, {p}"] = f"{winner} ({values[winner].mean():.3g})"
        outcomes["adamw"].append(checks.ordering(ADAMW_VS_MUON, values["adamw"], values["muon"], group=p,
                                                 regime=regime(info, ["adamw", "muon"])))
        v11, info11 = at_best(finals[p], c11)
        best[p] = pd.concat([best[p], info11["best"]])
        means = v11.mean()
        worse_zi = max(["ZI+BC", "ZI, no BC"], key=lambda n: means[n])
        better_nzi = min(["no ZI, no BC", "no ZI, BC"], key=lambda n: means[n])
        outcomes["init"].append(checks.ordering(INIT, v11[worse_zi], v11[better_nzi], group=p,
                                                regime=regime(info11, [worse_zi, better_nzi])))
        for a, b in zip(c11, c11[1:]):
            outcomes["order"].append(checks.ordering(ORDER, v11[a], v11[b], group=f"{p}: {a} < {b}",
                                                     regime=regime(info11, [a, b])))
        numbers[f"C11 ranking at best lr, {p}"] = " < ".join(means.sort_values().index)
        for n in c13 + c11:
            vals = values[n] if n in values else v11[n]
            table_rows.append({"problem": p, "metric": METRIC[p], "optimizer / variant": n,
                               "best lr": info["best"].get(n, info11["best"].get(n)),
                               "final value at best lr (mean ± std)": mean_std(vals)})

    spectra = tables.get("spectra")
    spectra_fig = None
    if spectra is not None and not spectra.empty:
        spectra = spectra[(spectra["optimizer"] == "muon")
                          & (spectra["lr"] == spectra["problem"].map(lambda p: best[p]["muon"]))]
        spectra = numerical_rank(spectra[spectra["quantity"].isin(["grad", "direction"])])
        for (p, param), s in spectra.groupby(["problem", "param"]):
            ext = s.groupby(["seed", "step", "quantity"])["value"].agg(["max", "min"]).reset_index()
            ext["cond"] = ext["max"] / ext["min"]
            cond = ext.groupby(["seed", "quantity"])["cond"].median().unstack()
            outcomes["flat"].append(checks.ordering(FLAT, cond["direction"], cond["grad"], group=f"{p} {param}"))
            top = ext.sort_values("step").groupby(["seed", "quantity"])["max"]
            shrink = (top.last() / top.first()).unstack()
            outcomes["unit"].append(checks.equivalence(UNIT, shrink["direction"], 1.0, group=f"{p} {param}"))
            numbers[f"σ_max last/first, G_t / O_t, {p} {param}"] = (f"{shrink['grad'].mean():.3g} / "
                                                                    f"{shrink['direction'].mean():.3g}")
            numbers[f"median σ_1/σ_r, G_t / O_t, {p} {param}"] = (f"{cond['grad'].mean():.3g} / "
                                                                     f"{cond['direction'].mean():.3g}")
        spectra_fig = spectra_figure(spectra)

    headline = {"adamw": ADAMW_VS_MUON, "flat": FLAT, "unit": UNIT, "init": INIT, "order": ORDER}
    outs = []
    for key, check in headline.items():
        if outcomes[key]:
            outs += [checks.combine(check, outcomes[key])] + outcomes[key]
    seeds = max(o.n for o in outs) if outs else 0
    lead = (f"Each entry: the measured ratio (geometric mean over {seeds} seeds of the paired per-seed ratios, "
            f"95 % t-interval; C13-real-unit: the mean ratio) per group; a best lr at its grid's edge makes a group "
            f"inconclusive.")
    verdict = lead + "\n\n" + "\n\n".join(
        f"**{check.id}** ({check.prediction}): **{combined.verdict}** — " + "; ".join(
            f"{o.group}: {o.verdict} ({o.measured:.3g} [{o.ci_low:.3g}, {o.ci_high:.3g}])" for o in outcomes[key]) + "."
        for key, check in headline.items() for combined in outs if combined.check is check and not combined.group)
    figures = [lr_figure(metrics, finals, problems, c13, best, "lr_grid",
                         "Final training objective against the lr per optimizer (geometric mean over seeds, band "
                         "×/÷ 2 s.e. in log space; star: the best lr; ×: diverged runs)."),
               curves_figure(metrics, problems, c13, best),
               lr_figure(metrics, finals, problems, c11, best, "c11_lr_grid",
                         "C11: the four bias-correction × zero-init variants of AdamW (β = (0.95, 0.95), λ = 0.1), "
                         "final training objective against the lr (bands as above).")]
    if spectra_fig is not None:
        figures.append(spectra_fig)
    notes = [] if spectra_fig is not None else ["*The spectra probe table is missing: no spectra checks.*"]
    return Analysis(figures=figures, table=pd.DataFrame(table_rows), numbers=numbers, verdict=verdict,
                    notes=notes, checks=outs)


def numerical_rank(spectra: pd.DataFrame) -> pd.DataFrame:
    """Per (run, step, param): the r largest singular values of G_t and of O_t, r = #{σ_i(G_t) >
    RANK·σ_max(G_t)}; matrices with one singular value (diabetes' 11×1 w) are left out."""
    keys = ["run", "step", "param"]
    s = spectra.copy()
    s["rank"] = s.groupby(keys + ["quantity"])["value"].rank(ascending=False, method="first")
    g = s[s["quantity"] == "grad"]
    r = (g["value"] > RANK * g.groupby(keys)["value"].transform("max")).groupby([g[k] for k in keys]).sum()
    s = s.join(r.rename("r"), on=keys)
    n = s.groupby(keys)["rank"].transform("max")
    return s[(s["rank"] <= s["r"]) & (n > 1)].drop(columns=["rank", "r"])


def lr_figure(metrics, finals, problems, names, best, stem, caption) -> Figure:
    fig, axes = new_figure(len(problems), 1, width=3.8, height=3.2)
    for ax, p in zip(axes.flat, problems):
        final = finals[p][finals[p]["name"].isin(names)].replace(np.inf, np.nan)
        final["diverged"] = final["diverged"] | final["value"].isna()
        ax.set(xscale="log", yscale="log")
        stats = plotting.seed_band(ax, final, x="lr", y="value", hue="name", marker="o")
        for n in names:
            s = stats[(stats["name"] == n) & (stats["lr"] == best[p][n])]
            if len(s):
                plotting.mark_best(ax, best[p][n], float(s["centre"].iloc[0]), n)
        ax.set(xlabel="learning rate η", ylabel=f"final {METRIC[p]}", title=p)
        plotting.legend(ax, fontsize="x-small")
    return Figure(stem, fig, caption)


def curves_figure(metrics, problems, names, best) -> Figure:
    fig, axes = new_figure(len(problems), 1, width=3.8, height=3.2)
    for ax, p in zip(axes.flat, problems):
        rows = metrics[(metrics["problem"] == p) & (metrics["metric"] == METRIC[p]) & metrics["name"].isin(names)
                       & (metrics["step"] > 0)]
        rows = rows[rows["lr"] == rows["name"].map(best[p])]
        plotting.seed_band(ax, rows, x="step", y="value", hue="name", log=True)
        ax.set(xlabel="step", ylabel=METRIC[p], title=p)
        plotting.legend(ax, fontsize="x-small")
    return Figure("curves", fig, "The training objective over training at each optimizer's best lr "
                                 "(geometric mean over seeds, band ×/÷ 2 s.e. in log space).")


def spectra_figure(spectra) -> Figure:
    rows = spectra[spectra["quantity"].isin(["grad", "direction"])]
    ext = rows.groupby(["problem", "param", "seed", "step", "quantity"])["value"].agg(["max", "min"]).reset_index()
    long = ext.melt(id_vars=["problem", "param", "seed", "step", "quantity"], value_vars=["max", "min"], var_name="σ")
    long["line"] = long["quantity"].map({"grad": "G_t", "direction": "O_t"}) + " σ_" + long["σ"]
    long["run"] = long["seed"].astype(str) + long["line"]
    panels = sorted(set(zip(long["problem"], long["param"])))
    fig, axes = new_figure(len(panels), 1, width=3.6, height=3.0)
    for ax, (p, param) in zip(axes.flat, panels):
        plotting.seed_band(ax, long[(long["problem"] == p) & (long["param"] == param)], x="step", y="value",
                           hue="line", log=True)
        plotting.theory_line(ax, 1.0, "1 (orthogonal)")
        ax.set(xlabel="step", ylabel="singular value", title=f"{p}: {param}")
        plotting.legend(ax, fontsize="x-small")
    return Figure("spectra", fig, "Muon at its best lr: largest and r-th singular values (r: the numerical rank of G_t) "
                                  "of the gradient G_t and of the Newton–Schulz output O_t per matrix (geometric mean "
                                  "over seeds, band ×/÷ 2 s.e.); dashed: 1.")
