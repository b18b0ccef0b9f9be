"""docs/claims.md C9 (004): AdamW's decay is an EMA with timescale τ_iter = 1/(ηλ), τ_epoch = τ_iter/M.

Claim (004 §4.1–4.2): at a fixed number of epochs E the best τ_epoch lies in [1, E] and stays put
as the dataset size N grows, so the best λ = 1/(η M τ_epoch) falls like 1/N (M = N/B, B fixed).

The spec sweeps `tau_epoch` (resolved to λ at the initial lr η, as 004 does) on finite-data linear
regression with more parameters than examples and a random initialisation, where decay must
forget the initial weights outside the data's span, for several N, with 004's cosine schedule. Measured per run: the excess population loss
test_loss − D·σ² at the end. Per N, `checks.grid_best` finds the best τ_epoch over the grid on
the log of that value, paired over seeds; grid points not significantly worse are tied with it
and form its interval; a best at a grid edge is inconclusive. Only when every N has an interior
best is the slope of log best-λ against log N fitted: per seed, the vertex of a parabola in
log τ_epoch through the five grid points around the seed-mean best gives that seed's best
τ_epoch per N, hence its slope; the interval is over seeds (claim: −1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import checks, plotting, theory
from ..checks import Check, Regime
from . import Analysis, Figure, final_values, new_figure


def vertex(log_tau: np.ndarray, log_loss: np.ndarray) -> float:
    """argmin of the parabola through (log τ, log loss), clipped to the points' range."""
    a, b, _ = np.polyfit(log_tau, log_loss, 2)
    x = -b / (2 * a) if a > 0 else log_tau[np.argmin(log_loss)]
    return float(np.clip(x, log_tau.min(), log_tau.max()))


def seed_slopes(final: pd.DataFrame, best: dict[int, float], lr: float, batch: int) -> pd.Series:
    """Per seed: the slope of log best-λ against log N, best τ_epoch from the parabola's vertex."""
    slopes = {}
    for seed, f in final.groupby("seed"):
        logN, logL = [], []
        for N, g in f.groupby("n_train"):
            grid = np.sort(g["tau_epoch"].unique())
            i = int(np.searchsorted(grid, best[N]))
            near = grid[max(0, i - 2): i + 3]
            g = g[g["tau_epoch"].isin(near)].sort_values("tau_epoch")
            tau = np.exp(vertex(np.log(g["tau_epoch"].to_numpy()), np.log(g["value"].to_numpy())))
            logN.append(np.log(N))
            logL.append(np.log(theory.weight_decay_for_tau_epoch(lr, N / batch, tau)))
        slopes[seed] = np.polyfit(logN, logL, 1)[0]
    return pd.Series(slopes)


def analyze(tables, spec) -> Analysis:
    epochs = spec.extra["epochs"]
    final = final_values(tables["metrics"], "test_loss")
    final["value"] = final["value"] - final["D"] * final["noise"] ** 2  # excess population loss
    final["M"] = final["n_train"] // final["batch_size"]
    final["tau_epoch"] = theory.tau_epoch(final["lr"], final["weight_decay"], final["M"]).round(4)
    lr, batch = float(final["lr"].iloc[0]), int(final["batch_size"].iloc[0])

    best_tau = Check("C9", "C9-best-tau", "best τ_epoch", "argmin over the τ_epoch grid of the seed-mean log excess "
                     "population loss at the end of training; tied set (paired over seeds) as interval",
                     f"in [1, E = {epochs}], 004 §4.1", 0.0)
    outs, best = [], {}
    for N, f in final.groupby("n_train"):
        o = checks.grid_best(best_tau, f, "tau_epoch", (1, epochs), group=f"N={N}")
        outs.append(o)
        best[N] = o.measured
    out = outs + [checks.combine(best_tau, outs)]
    interior = all(o.verdict != "inconclusive" or "grid edge" not in o.reason for o in outs)
    slope = Check("C9", "C9-slope", "d log(best λ)/d log N", "per seed: best τ_epoch per N from the vertex of a "
                  "parabola in log τ_epoch through the 5 grid points around the seed-mean best; least-squares slope "
                  "of log λ = −log(η M τ_epoch) against log N", "−1 (best τ_epoch stays put, 004 eq. 9)", 0.25)
    slopes = seed_slopes(final, best, lr, batch)
    out.append(checks.relative(slope, slopes, -1.0, regime=Regime(
        interior, "best τ_epoch interior to the grid for every N" if interior else "a best τ_epoch at the grid edge")))

    Ns = sorted(best)
    numbers = {f"best τ_epoch at N = {N}": f"{o.measured:g}, tied [{o.ci_low:g}, {o.ci_high:g}] "
               f"(λ = {theory.weight_decay_for_tau_epoch(lr, N / batch, o.measured):.3g})" for N, o in zip(Ns, outs)}
    s_mean, s_low, s_high = checks.t_interval(slopes)
    numbers["slope of log best λ vs log N (claim −1)"] = f"{s_mean:.3g} [{s_low:.3g}, {s_high:.3g}] over {len(slopes)} seeds"
    verdict = " ".join(f"{o.check.id}: **{o.verdict}** ({o.reason})." for o in out if not o.group)

    fig, axes = new_figure(2, width=5.0)
    ax = axes[0, 0]
    for N in Ns:
        f = final[final["n_train"] == N]
        stats = plotting.seed_band(ax, f, "tau_epoch", "value", log=True, label=f"N = {N}",
                                   color=plotting.color(f"N = {N}"), marker="o", markersize=3)
        plotting.mark_best(ax, best[N], float(stats.set_index("tau_epoch").loc[best[N], "centre"]),
                           name=f"N = {N}", label="best τ_epoch (★)")
    ax.axvspan(1, epochs, color="0.92", zorder=0)
    ax.set(xscale="log", yscale="log", xlabel="τ_epoch = 1/(ηλM) (initial η)", ylabel="final excess test loss",
           title=f"AdamW, cosine lr, {epochs} epochs (shaded: 1 ≤ τ_epoch ≤ E)")
    plotting.legend(ax, fontsize="x-small")
    ax = axes[0, 1]
    lam = np.array([theory.weight_decay_for_tau_epoch(lr, N / batch, best[N]) for N in Ns])
    lo = [theory.weight_decay_for_tau_epoch(lr, N / batch, o.ci_high) for N, o in zip(Ns, outs)]
    hi = [theory.weight_decay_for_tau_epoch(lr, N / batch, o.ci_low) for N, o in zip(Ns, outs)]
    ax.errorbar(Ns, lam, yerr=[lam - lo, np.array(hi) - lam], marker="o", linestyle="none", capsize=3,
                label="best λ (bar: tied grid values)")
    ref = np.exp(np.mean(np.log(lam)) + np.mean(np.log(Ns))) / np.array(Ns)
    plotting.theory_line(ax, ref, "∝ 1/N (claim)", x=Ns)
    ax.set(xscale="log", yscale="log", xlabel="dataset size N", ylabel="best weight decay λ",
           title=f"slope {s_mean:.2f} [{s_low:.2f}, {s_high:.2f}] (claim −1)")
    plotting.legend(ax, fontsize="x-small")
    table = (final.groupby(["n_train", "M", "tau_epoch", "weight_decay"])["value"]
             .agg(["mean", "std"]).rename(columns={"mean": "excess test loss mean", "std": "excess test loss std"})
             .reset_index())
    seeds = sorted(final["seed"].unique())
    notes = [f"Problem: {int(final['d'].iloc[0])}-dimensional linear regression with {int(final['D'].iloc[0])} outputs "
             f"and N = {', '.join(map(str, Ns))} examples (fewer than the parameters), label noise σ = "
             f"{final['noise'].iloc[0]:g}, random initial weights of std {final['init_std'].iloc[0]:g}, batch {batch}, "
             f"{epochs} epochs, AdamW at η = {lr:g} with a cosine schedule to 0.1·η (004 §4), {len(seeds)} seeds. Decay "
             "matters here in both of 004's directions: the data never pin down the initial weights' component "
             "outside their span, which only decay forgets (τ_epoch must not exceed the run, ≈ E), and a shorter "
             "timescale averages fewer minibatch updates (τ_epoch should not be far below 1)."]
    return Analysis(figures=[Figure("timescale", fig, "Left: final excess population loss against τ_epoch per dataset "
                                    "size N (band: ±2 s.e. of the log over seeds; star: the best grid value). Right: "
                                    "the best λ against N with the λ range of the grid values tied with the best; "
                                    "dashed: slope −1.")],
                    table=table, numbers=numbers, verdict=verdict, notes=notes, checks=out)
