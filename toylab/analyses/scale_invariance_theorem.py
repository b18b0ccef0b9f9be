"""SCIENCE.md C10 (004 Theorem 1): on a scale-invariant loss, AdamW runs with (η, λ, σ_init, ε)
and (η/c, cλ, σ_init/c, cε) from the same seed satisfy w'_t = w_t/c at every step.

The spec lists σ_init = σ₀/c among the problem options and one optimizer table per c with
(η₀/c, cλ₀, cε₀); the analysis pairs each run with the c = 1 run of its problem and seed
(the spec's `reference` η₀, σ₀, with c = η₀/η = σ₀/σ_init) and measures, from the `weights` probe,

    max_t ‖w'_t − w_t/c‖ / ‖w_t/c‖.

Pairs whose c differ in the optimizer and in the initialisation are left out: they are not the
theorem's rescaling.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from . import Analysis, Figure, new_figure


def analyze(tables, spec) -> Analysis:
    tol = spec.extra.get("tolerance", 1e-10)
    w = tables["weights"]
    runs = w.drop_duplicates("run").copy()
    ref = spec.extra["reference"]  # the c = 1 run: {lr = η₀, init_std = σ₀}
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
    numbers, verdicts = {}, []
    for problem, sub in rescaled.groupby("problem"):
        err = sub[col].max()
        numbers[f"{problem}: max over c ∈ {{{', '.join(f'{c:g}' for c in sorted(sub['c'].unique()))}}}, t and seeds"] = f"{err:.3g}"
        verdicts.append(f"on {problem} the rescaled trajectory {'equals' if err <= tol else 'differs from'} w_t/c "
                        f"(max relative deviation {err:.3g}; threshold {tol:g})")
    fig, axes = new_figure(1, width=5.5)
    ax = axes[0, 0]
    sns.lineplot(curves.assign(error=curves["error"].clip(lower=1e-17)), x="step", y="error", hue="c",
                 style="problem", errorbar=None, ax=ax)
    ax.set(yscale="log", xlabel="step t", ylabel="‖w'_t − w_t/c‖ / ‖w_t/c‖", title="AdamW, (η/c, cλ, σ_init/c, cε)")
    verdict = "C10: " + "; ".join(verdicts) + "."
    return Analysis(
        figures=[Figure("deviation", fig, "Relative deviation of the rescaled run from the original divided by c: "
                        "rounding level on the scale-invariant problem, order one on linear regression.")],
        table=table, numbers=numbers,
        verdict=verdict)
