"""SCIENCE.md C2, C3 in seed 000's own setting: RMS(θ_t) of AdamW and Signum on i.i.d. N(0, 1)
gradients against the mean-field curves (eq. 18 for AdamW, eq. 25 with ρ = 0 for Signum) and
the steady states (eq. 19 √(η/2λ), the quick eq. 7 √(η/2λ)·√((1−β1)/(1+β1)), eq. 26
√(η/2λ·(1+β1)/(1−β1))). Numbers: RMS(θ_T) beside each steady state, and the largest relative
error of the mean-field curve over all recorded t.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import theory
from . import THEORY, Analysis, Figure, new_figure


def predictions(opt: str, frame: pd.DataFrame, t: np.ndarray, init_rms: float):
    """The mean-field curve at steps t and the steady states the seed names, for one run."""
    lr, wd = float(frame["lr"].iloc[0]), float(frame["weight_decay"].iloc[0])
    if opt == "adamw":
        beta1 = float(str(frame["betas"].iloc[0]).split(",")[0])
        return (theory.adamw_weight_rms_zero_mean(t, lr, wd, init_rms),
                {"eq. 19 √(η/2λ)": theory.adamw_weight_rms_steady(lr, wd),
                 "eq. 7 (quick)": theory.adamw_weight_rms_quick(lr, wd, beta1)})
    beta1 = float(frame["momentum"].iloc[0])
    return (theory.signum_weight_rms(t, lr, wd, beta1, init_rms),
            {"eq. 26": theory.signum_weight_rms_steady(lr, wd, beta1)})


def analyze(tables, spec) -> Analysis:
    rms = tables["metrics"].query("metric == 'weight_rms'").sort_values("step")
    fig, axes = new_figure(2, 1, width=4.6, height=3.4)
    numbers, rows, verdict = {}, [], []
    for color, (opt, frame) in zip(("C0", "C3"), rms.groupby("optimizer")):
        t, measured = frame["step"].to_numpy(float), frame["value"].to_numpy()
        curve, steady = predictions(opt, frame, t, measured[0])
        error = np.abs(measured[1:] / curve[1:] - 1)
        axes[0, 0].plot(t, measured, color=color, label=f"{opt}: measured")
        axes[0, 0].plot(t, curve, color=color, linestyle="--", linewidth=1.2, label=f"{opt}: mean field")
        for (name, value), style in zip(steady.items(), (":", "-.")):
            axes[0, 0].axhline(value, color=color, linestyle=style, linewidth=1, label=f"{opt}: {name}")
        axes[0, 1].plot(t[1:], error, color=color, label=opt)
        final = measured[-1]
        numbers[f"{opt}: RMS(θ_T), T = {int(t[-1])}"] = f"{final:.4g}"
        numbers[f"{opt}: max relative error of the mean-field curve over t"] = f"{error.max():.2%}"
        for name, value in steady.items():
            numbers[f"{opt}: {name}"] = f"{value:.4g} ({final / value - 1:+.1%})"
            rows.append({"optimizer": opt, "prediction": name, "predicted": value, "measured RMS(θ_T)": final,
                         "relative error": final / value - 1})
        closest = min(steady, key=lambda k: abs(final / steady[k] - 1))
        timescales = float(frame["lr"].iloc[0] * frame["weight_decay"].iloc[0] * t[-1])
        verdict.append(f"{opt} (ηλT = {timescales:.3g} decay timescales): RMS(θ_T) = {final:.4g}, closest to "
                       f"{closest} ({steady[closest]:.4g}, "
                       f"{final / steady[closest] - 1:+.1%}); the mean-field curve is within {error.max():.1%} at "
                       f"every recorded step.")
    axes[0, 0].set(xscale="log", yscale="log", xlabel="step t", ylabel="RMS(θ_t)",
                   title="N = 10 000 coordinates, seed 000's setting")
    axes[0, 0].legend(fontsize="xx-small")
    axes[0, 1].axhline(0.05, **THEORY)
    axes[0, 1].set(xscale="log", yscale="log", xlabel="step t", ylabel="|measured / mean field − 1|",
                   title="relative error of eq. 18 / eq. 25 (dashed: 5 %)")
    axes[0, 1].legend(fontsize="x-small")
    figure = Figure("weight_rms", fig, "Left: RMS(θ_t) measured (solid), the mean-field curve (dashed) and the "
                    "steady states the seed names (dotted, dash-dotted). Right: relative error of the mean-field "
                    "curve.")
    return Analysis(figures=[figure], table=pd.DataFrame(rows), numbers=numbers, verdict=" ".join(verdict))
