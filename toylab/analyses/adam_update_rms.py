"""SCIENCE.md C1: Adam's update RMS under zero-mean i.i.d. gradients, RMS(m̂/√v̂) → √((1−β1)/(1+β1)).

Reads the norms probe's `rms_direction` (the update before the learning rate, m̂/(√v̂ + ε)).
The steady value of a run is the mean over its last half of steps; the verdict is its largest
relative error against C1 over the runs with bias correction, and separately without it
(whose first steps are off by the missing 1/(1 − β^t) factors, SCIENCE.md C11).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from .. import theory
from . import THEORY, Analysis, Figure, holds, new_figure, pair_first, relative_error


def analyze(tables, spec) -> Analysis:
    tol = spec.extra.get("tolerance", 0.05)
    d = tables["norms"].query("quantity == 'rms_direction'").copy()
    d["beta1"] = d["betas"].map(pair_first)
    d["bias correction"] = d["bias_correction"].astype(bool)
    rows = []
    for (b1, bc, betas), r in d.groupby(["beta1", "bias correction", "betas"]):
        T = r["step"].max()
        steady = r[r["step"] > T / 2].groupby("seed")["value"].mean()
        first = r[r["step"] == r["step"].min()]["value"].mean()
        rows.append({"betas": betas, "bias correction": bc, "RMS(u) at first probe": first,
                     "steady RMS(u) (mean, last half)": steady.mean(), "C1 √((1−β1)/(1+β1))": theory.adam_update_rms(b1)})
    table = pd.DataFrame(rows)
    table["relative error"] = relative_error(table["steady RMS(u) (mean, last half)"], table["C1 √((1−β1)/(1+β1))"])
    numbers, verdicts = {}, []
    for bc, name in ((True, "with bias correction"), (False, "without bias correction")):
        sub = table[table["bias correction"] == bc]
        if sub.empty:
            continue
        err = sub["relative error"].max()
        numbers[f"max relative error of the steady RMS(u), {name} ({len(sub)} β settings)"] = f"{100 * err:.3g} %"
        verdicts.append(holds(f"C1 {name}", err, tol))

    fig, axes = new_figure(2, width=5.0)
    for ax, bc in zip(axes[0], (True, False)):
        sub = d[d["bias correction"] == bc]
        sns.lineplot(sub, x="step", y="value", hue="betas", errorbar=("se", 2), ax=ax)
        for b1 in sorted(sub["beta1"].unique()):
            ax.axhline(theory.adam_update_rms(b1), **THEORY)
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="RMS(m̂/(√v̂+ε))",
               title=f"bias correction {'on' if bc else 'off'}")
    return Analysis(
        figures=[Figure("update_rms", fig, "RMS of Adam's update direction over training under N(0, 1) gradient noise; "
                        "dashed: C1's √((1−β1)/(1+β1)) per β1 (band: ±2 s.e. over seeds).")],
        table=table, numbers=numbers, verdict="; ".join(verdicts) + f" (tolerance {100 * tol:g} %).",
        notes=["Without bias correction the first update is (1−β1)g/√((1−β2)g²) = (1−β1)/√(1−β2) in RMS; the "
               "steady state is the same because (1 − β^t) → 1."])
