"""SCIENCE.md C9 (004): AdamW's decay is an EMA with timescale τ_iter = 1/(ηλ), τ_epoch = τ_iter/M.

Claim: at a fixed number of epochs E, the best τ_epoch lies in [1, E] and stays put as the
dataset size N grows, so the best λ = 1/(η M τ_epoch) falls like 1/N (M = N/B). The spec sweeps
`tau_epoch` (resolved to λ by `RunConfig`) for several N at a fixed η; here τ_epoch and M are
read back from each run (τ_epoch = 1/(ηλM)), the final `test_loss` (population loss) is averaged
over seeds, and per N the best τ_epoch and λ are found. The slope of log best-λ against log N is
the claim's −1 when τ_epoch stays put.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from .. import theory
from . import SEED_BAND, Analysis, Figure, final_values, new_figure


def analyze(tables, spec) -> Analysis:
    metric = spec.extra.get("metric", "test_loss")
    final = final_values(tables["metrics"], metric)
    final["M"] = np.where(final["batch_size"] > 0, final["n_train"] // final["batch_size"].clip(lower=1), 1)
    final["tau_epoch"] = theory.tau_epoch(final["lr"], final["weight_decay"], final["M"]).round(6)
    final["epochs"] = (final["steps"] / final["M"]).round(3) if "steps" in final else np.nan
    mean = final.groupby(["n_train", "tau_epoch", "weight_decay"])["value"].mean().reset_index()
    best = mean.loc[mean.groupby("n_train")["value"].idxmin()].reset_index(drop=True)
    epochs = spec.extra["epochs"]
    inside = best["tau_epoch"].between(1, epochs)
    slope = np.polyfit(np.log(best["n_train"]), np.log(best["weight_decay"]), 1)[0] if len(best) > 1 else np.nan
    spread = best["tau_epoch"].max() / best["tau_epoch"].min()
    numbers = {f"best τ_epoch at N = {int(r.n_train)}": f"{r.tau_epoch:g} (λ = {r.weight_decay:.3g}, {metric} {r.value:.4g})"
               for r in best.itertuples()}
    numbers["best τ_epoch inside [1, E]"] = f"{int(inside.sum())} of {len(best)} dataset sizes (E = {epochs})"
    numbers["max/min best τ_epoch over N"] = f"{spread:.3g}"
    numbers["slope of log best λ vs log N (claim: −1)"] = f"{slope:.3g}"
    grid = np.sort(final["tau_epoch"].unique())
    step = np.exp(np.mean(np.diff(np.log(grid)))) if len(grid) > 1 else 1.0
    verdict = (f"C9: the best τ_epoch lies in [1, E = {epochs}] for {int(inside.sum())} of {len(best)} dataset sizes and "
               f"moves by a factor {spread:.3g} over N = {', '.join(str(int(n)) for n in best['n_train'])} "
               f"(grid step ×{step:.3g}); {'it stays put within one grid step' if spread <= step * 1.0001 else 'it moves'}. "
               f"The best λ scales as N^{slope:.2f} (claim: N^−1; "
               f"{'holds within' if abs(slope + 1) <= 0.25 else 'fails by'} {abs(slope + 1):.2f} in the exponent).")
    edge = best["tau_epoch"].isin([grid[0], grid[-1]])
    if edge.any():
        verdict += (f" At N = {', '.join(str(int(n)) for n in best.loc[edge, 'n_train'])} the best τ_epoch is at the edge "
                    "of the grid: there the optimum may lie outside it.")

    fig, axes = new_figure(2, width=5.0)
    f = final.assign(N=final["n_train"].astype(int).astype(str))
    sns.lineplot(f, x="tau_epoch", y="value", hue="N", marker="o", errorbar=SEED_BAND, ax=axes[0, 0])
    axes[0, 0].axvspan(1, epochs, color="0.9", zorder=0)
    axes[0, 0].set(xscale="log", yscale="log", xlabel="τ_epoch = 1/(ηλM)", ylabel=f"final {metric}",
                   title=f"AdamW, {epochs} epochs (shaded: 1 ≤ τ_epoch ≤ E)")
    sns.lineplot(f, x="weight_decay", y="value", hue="N", marker="o", errorbar=SEED_BAND, ax=axes[0, 1])
    axes[0, 1].set(xscale="log", yscale="log", xlabel="weight decay λ", ylabel=f"final {metric}",
                   title="the same runs against λ")
    table = (final.groupby(["n_train", "M", "tau_epoch", "weight_decay"])["value"]
             .agg(["mean", "std"]).rename(columns={"mean": f"{metric} mean", "std": f"{metric} std"}).reset_index())
    return Analysis(
        figures=[Figure("timescale", fig, f"Final {metric} against τ_epoch (left) and λ (right) per dataset size N "
                        "(band: ±2 s.e. over seeds): the curves line up in τ_epoch if the timescale is what transfers.")],
        table=table, numbers=numbers, verdict=verdict,
        notes=["Linear regression with finite data is the problem: AdamW's decay acts as a ridge-like "
               "regulariser there, noise in the labels makes over-fitting real, and `test_loss` is the exact "
               "population loss, so the curves carry no evaluation noise."])
