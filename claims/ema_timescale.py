"""C9 (004, docs/claims.md): AdamW's decay is an EMA with timescale τ_iter = 1/(ηλ), τ_epoch = τ_iter/M.

At a fixed number of epochs E the best τ_epoch lies in [1, E] and stays put as the dataset size N
grows, so the best λ = 1/(η M τ_epoch) falls like 1/N (M = N/B, B fixed). τ_epoch is swept (λ at the
initial lr η, as 004 does) on linear regression with more parameters than examples and a random
init, cosine lr. Per run: the excess population loss test_loss − D·σ² at the end. `C9-best-tau`:
per N, the best τ_epoch of the grid (`checks.best_on_grid`) lies in [1, E], in every N. `C9-slope`,
only when every N has an interior best: per seed, the vertex of a parabola in log τ_epoch through
the 5 grid points around the seed-mean best gives that seed's best τ_epoch per N, hence the slope
of log best-λ against log N (claim −1).
"""
import numpy as np
import pandas as pd

from toylab import checks, estimators, plotting, theory
from toylab.analyses import Analysis, Figure, new_figure

_PROBLEM = """
[[problems]]
name = "linear_regression"
d = 512
D = 2
noise = 0.5
init_std = 1.0
reduction = "mean"
batch_size = 16
n_train = {n}
steps = {steps}
"""
SPEC = """
title = "AdamW's EMA timescale across dataset sizes"
claim = "C9"
question = "At a fixed number of epochs, does the best τ_epoch = 1/(ηλM) lie between 1 and the number of epochs and stay put as the dataset grows, so that the best λ falls like 1/N?"
seeds = [0, 1, 2, 3, 4, 5, 6, 7]
metric_every = 1000000
epochs = 40   # every problem table runs epochs · M steps, M = n_train / batch_size

[[optimizers]]  # τ_epoch on a √2 grid, λ = 1/(η M τ_epoch) at the initial lr (004 eq. 9)
name = "adamw"
lr = 0.03
schedules = { lr = "cosine:final=0.1" }
tau_epoch = [0.25, 0.353553, 0.5, 0.707107, 1.0, 1.41421, 2.0, 2.82843, 4.0, 5.65685, 8.0, 11.3137, 16.0, 22.6274, 32.0, 45.2548, 64.0, 90.5097, 128.0, 181.019, 256.0, 362.039, 512.0, 724.077, 1024.0]
""" + "".join(_PROBLEM.format(n=n, steps=40 * n // 16) for n in (32, 64, 128, 256)) + """
[quick]
seeds = [0, 1]
epochs = 2
""" + "".join(_PROBLEM.format(n=n, steps=2 * n // 16).replace("[[problems]]", "[[quick.problems]]").replace(
    "d = 512", "d = 16") for n in (32, 64))
SETTINGS = {"epochs": ...}  # E: the number of epochs every problem table runs


def seed_slopes(final: pd.DataFrame, best: dict[int, float], lr: float, batch: int) -> pd.Series:
    """Per seed: the slope of log best-λ against log N, best τ_epoch from the parabola's vertex."""
    slopes = {}
    for seed, f in final.groupby("seed"):
        logN, logL = [], []
        for N, g in f.groupby("n_train"):
            logN.append(np.log(N))
            logL.append(np.log(theory.weight_decay_for_tau_epoch(lr, N / batch, estimators.log_vertex(g, "tau_epoch", best[N]))))
        slopes[seed] = np.polyfit(logN, logL, 1)[0]
    return pd.Series(slopes)


def analyze(tables, spec) -> Analysis:
    epochs = spec.settings["epochs"]
    final = checks.final_values(tables["metrics"], "test_loss")
    final["value"] -= final["D"] * final["noise"] ** 2  # excess population loss
    final["M"] = final["n_train"] // final["batch_size"]
    final["tau_epoch"] = theory.tau_epoch(final["lr"], final["weight_decay"], final["M"]).round(4)
    lr, batch = float(final["lr"].iloc[0]), int(final["batch_size"].iloc[0])
    lam = lambda N, tau: theory.weight_decay_for_tau_epoch(lr, N / batch, tau)  # noqa: E731

    best_tau = checks.Check("C9", "C9-best-tau", "best τ_epoch", "argmin over the τ_epoch grid of the seed-mean log "
                            "excess population loss at the end of training; tied set (paired over seeds) as interval",
                            f"in [1, E = {epochs}], 004 §4.1", 0.0, kind="seed")
    groups = checks.best_on_grid(best_tau, final, "tau_epoch", (1, epochs), by=["n_train"], label=lambda p: f"N={p.n_train}")
    Ns, best = sorted(final["n_train"].unique()), {int(o.group[2:]): o.measured for o in groups}
    slope = checks.Check("C9", "C9-slope", "d log(best λ)/d log N", "per seed: best τ_epoch per N from the vertex "
                         "of a parabola in log τ_epoch through the 5 grid points around the seed-mean best; "
                         "least-squares slope of log λ = −log(η M τ_epoch) against log N",
                         "−1 (best τ_epoch stays put, 004 eq. 9)", 0.25, kind="seed")
    slopes = seed_slopes(final, best, lr, batch)
    edge = checks.Regime(all(o.cause != "grid edge" for o in groups), "best τ_epoch interior to the grid for every N")
    edge = edge if edge.reached else checks.Regime(False, "a best τ_epoch at the grid edge", "grid edge")
    out = [*checks.headline(best_tau, groups), checks.equivalence(slope, slopes, -1.0, regime=edge)]
    numbers = {f"best τ_epoch at N = {N}": f"{o.measured:g}, tied [{o.ci_low:g}, {o.ci_high:g}] "
               f"(λ = {lam(N, o.measured):.3g})" for N, o in zip(Ns, groups)}
    s_mean, s_low, s_high = checks.t_interval(slopes)
    numbers["slope of log best λ vs log N (claim −1)"] = f"{s_mean:.3g} [{s_low:.3g}, {s_high:.3g}] over {len(slopes)} seeds"

    fig, ((ax, right),) = new_figure(2, width=5.0)
    named = lambda f: f.assign(N=f["n_train"].map("N = {}".format)).set_index("N", drop=False)  # noqa: E731
    plotting.best_sweep(ax, named(final), named(checks.best_points(final, "tau_epoch", ["n_train"])), "N", x="tau_epoch",
                        label="best τ_epoch (★)", markersize=3)
    ax.axvspan(1, epochs, color="0.92", zorder=0)
    ax.set(xscale="log", yscale="log", xlabel="τ_epoch = 1/(ηλM) (initial η)", ylabel="final excess test loss",
           title=f"AdamW, cosine lr, {epochs} epochs (shaded: 1 ≤ τ_epoch ≤ E)")
    plotting.legend(ax, fontsize="x-small")
    lams = np.array([lam(N, best[N]) for N in Ns])  # λ falls as τ_epoch rises: the tied range's ends swap
    plotting.range_points(right, Ns, lams, *([lam(N, getattr(o, end)) for N, o in zip(Ns, groups)]
                                             for end in ("ci_high", "ci_low")), "best λ (bar: tied grid values)")
    plotting.theory_line(right, np.exp(np.mean(np.log(lams)) + np.mean(np.log(Ns))) / np.array(Ns), "∝ 1/N (claim)", x=Ns)
    right.set(xscale="log", yscale="log", xlabel="dataset size N", ylabel="best weight decay λ",
              title=f"slope {s_mean:.2f} [{s_low:.2f}, {s_high:.2f}] (claim −1)")
    plotting.legend(right, fontsize="x-small")
    table = (final.groupby(["n_train", "M", "tau_epoch", "weight_decay"])["value"].agg(["mean", "std"])
             .rename(columns={"mean": "excess test loss mean", "std": "excess test loss std"}).reset_index())
    notes = [f"Problem: {int(final['d'].iloc[0])}-dimensional linear regression with {int(final['D'].iloc[0])} outputs "
             f"and N = {', '.join(map(str, Ns))} examples (fewer than the parameters), label noise σ = "
             f"{final['noise'].iloc[0]:g}, random initial weights of std {final['init_std'].iloc[0]:g}, batch {batch}, "
             f"{epochs} epochs, AdamW at η = {lr:g} with a cosine schedule to 0.1·η (004 §4), {final['seed'].nunique()} "
             "seeds.", *NOTES]
    return Analysis(figures=[Figure("timescale", fig, "Left: final excess population loss against τ_epoch per dataset "
                                    "size N (band: ±2 s.e. of the log over seeds; star: the best grid value). Right: "
                                    "the best λ against N with the λ range of the grid values tied with the best; "
                                    "dashed: slope −1.")],
                    table=table, numbers=numbers, notes=notes, checks=out)


NOTES = ["Decay matters here in both of 004's directions: the data never pin down the initial weights' component outside "
         "their span, which only decay forgets (τ_epoch must not exceed the run, ≈ E), and a shorter timescale averages "
         "fewer minibatch updates (τ_epoch should not be far below 1)."]
