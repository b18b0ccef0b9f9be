"""docs/claims.md C10 (004 Theorem 1): on a scale-invariant loss, AdamW runs with (η, λ, σ_init, ε)
and (η/c, cλ, σ_init/c, cε) from the same seed satisfy w'_t = w_t/c at every step.

The spec lists σ_init = σ₀/c among the problem options and one optimizer table per c with
(η₀/c, cλ₀, cε₀); the analysis pairs each run with the c = 1 run of its problem and seed
(the spec's `reference` η₀, σ₀, with c = η₀/η = σ₀/σ_init) and measures, from the `weights` probe,

    max_t ‖w'_t − w_t/c‖ / ‖w_t/c‖.

Pairs whose c differ in the optimizer and in the initialisation are left out: they are not the
theorem's rescaling. Checks (one value per seed: the deviation maximised over t; one group per c):
`C10-invariance` bounds it by `tolerance` (rounding level) on the scale-invariant problem, and
`C10-linreg` applies the same bound on linear regression, which is not scale-invariant, where the
theorem does not apply and the check is expected to fail.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import checks, plotting
from . import Analysis, Figure, new_figure

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"tolerance": 1e-10, "reference": ...}


def analyze(tables, spec) -> Analysis:
    tol = spec.settings.get("tolerance", 1e-10)
    w = tables["weights"]
    runs = w.drop_duplicates("run").copy()
    ref = spec.settings["reference"]  # the c = 1 run: {lr = η₀, init_std = σ₀}
    base = runs[np.isclose(runs["lr"], ref["lr"]) & np.isclose(runs["init_std"], ref["init_std"])]
    rows, curves = [], []
    for r in runs.itertuples():
        orig = base[(base["problem"] == r.problem) & (base["seed"] == r.seed)].iloc[0]
        c = orig["lr"] / r.lr
        if not np.isclose(orig["init_std"] / r.init_std, c, rtol=1e-9):
            continue
        a = w[w["run"] == orig["run"]].sort_values(["step", "param", "index"])
        b = w[w["run"] == r.run].sort_values(["step", "param", "index"])
        diff = (b["value"].to_numpy() - a["value"].to_numpy() / c) ** 2
        norm = (a["value"].to_numpy() / c) ** 2
        per_step = pd.DataFrame({"step": a["step"].to_numpy(), "diff": diff, "norm": norm}).groupby("step").sum()
        err = np.sqrt(per_step["diff"] / per_step["norm"])
        rows.append({"problem": r.problem, "c": c, "seed": r.seed, "lr": r.lr, "weight_decay": r.weight_decay,
                     "eps": r.eps, "init_std": r.init_std, "max_t ‖w'_t − w_t/c‖/‖w_t/c‖": err.max()})
        curves.append(pd.DataFrame({"problem": r.problem, "c": f"{c:g}", "step": err.index, "error": err.to_numpy()}))
    table = pd.DataFrame(rows).sort_values(["problem", "c", "seed"]).reset_index(drop=True)
    curves = pd.concat(curves)
    curves = curves[curves["c"] != "1"]
    col = "max_t ‖w'_t − w_t/c‖/‖w_t/c‖"
    rescaled = table[~np.isclose(table["c"], 1.0)]
    dtype = spec.run.get("dtype", "float32")
    outcomes, numbers, largest = [], {}, {}
    for problem, cid, note in (("scale_invariant", "C10-invariance", "scale-invariant loss: claimed"),
                               ("linear_regression", "C10-linreg", "not scale-invariant: not claimed, expected to fail")):
        sub = rescaled[rescaled["problem"] == problem]
        if sub.empty:
            continue
        check = checks.Check("C10", cid, "max_t ‖w'_t − w_t/c‖/‖w_t/c‖",
                             f"per seed, the largest relative deviation over steps 0–{int(w['step'].max())} ({dtype})",
                             f"w'_t = w_t/c on {problem} ({note}); bound", tol,
                             kind="control" if cid == "C10-linreg" else "seed")
        groups = [checks.bound(check, g.sort_values("seed")[col].to_numpy(), group=f"c={c:g}")
                  for c, g in sub.groupby("c")]
        outcomes += [checks.combine(check, groups), *groups]
        largest[cid] = max(groups, key=lambda o: o.measured)
        numbers[f"{problem}: max over c ∈ {{{', '.join(f'{c:g}' for c in sorted(sub['c'].unique()))}}}, t and "
                f"{sub['seed'].nunique()} seeds"] = f"{sub[col].max():.3g}"
    fig, axes = new_figure(1, width=5.5)
    ax = axes[0, 0]
    ax.set_yscale("log")
    for (problem, c), g in curves.groupby(["problem", "c"]):
        style = "-" if problem == "scale_invariant" else "--"
        worst = g.groupby("step")["error"].max()
        shown = worst[worst > 0]
        ax.plot(shown.index, shown.to_numpy(), linestyle=style, color=plotting.palette(curves["c"].unique())[c],
                label=f"{problem}, c = {c} (max over seeds)")
    plotting.theory_line(ax, tol, f"tolerance {tol:g} (rounding bound)")
    ax.set(xlabel="step t", ylabel="‖w'_t − w_t/c‖ / ‖w_t/c‖", title="AdamW, (η/c, cλ, σ_init/c, cε)")
    plotting.legend(ax, fontsize="x-small")
    heads = {o.check.id: o for o in outcomes if not o.group}
    verdict = " ".join(
        f"**{cid} {o.verdict}**: deviation up to {w.measured:.3g} (seed mean at {w.group}, interval "
        f"[{w.ci_low:.3g}, {w.ci_high:.3g}] over {w.n} seeds; bound {tol:g}, {dtype}) — {what}."
        for cid, what in (("C10-invariance", "on the scale-invariant loss the rescaled run is w_t/c to rounding"),
                          ("C10-linreg", "on linear regression, which is not scale-invariant, it is not, as expected"))
        if (o := heads.get(cid)) is not None for w in [largest[cid]])
    return Analysis(
        figures=[Figure("deviation", fig, "Relative deviation of the rescaled run from the original divided by c, "
                        "largest over seeds: rounding level on the scale-invariant problem (steps where it is "
                        "exactly 0 are not drawn on the log axis), order one on linear regression.")],
        table=table, numbers=numbers, verdict=verdict, checks=outcomes)
