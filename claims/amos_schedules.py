"""C4 (001, docs/claims.md): Amos-style joint lr / weight-decay schedules.

Runs: normalised steps s_t = α₀‖ε₀‖·f(t) (Muon without momentum, exact polar factor: on a 128 × 1
matrix the direction is g/‖g‖) with decoupled decay ρ_t = α₀²/2·f(t), for f = the quadratic family
1/(α₀pt + 1)² and the inverse-time family 1/(2α₀p₀t + 1); ‖ε₀‖ = √2 is 001's estimate √(2k)σ, so
lr = α₀√2 and λ = α₀/(2√2).

Full-batch linear regression (‖ε_t‖ = ‖W_t − W_opt‖) at 001's α₀ and half-lives, per seed, with the
inputs 001's law needs measured: ‖ε₀‖ at step 0 and the cosine p̂ = (‖ε₀‖ − ‖ε_t₁‖)/P_t₁ over the
first record (P_t = Σ_{i≤t} s_i, the path). `C4-trajectory`: ‖ε_t‖/‖ε₀‖ over 1 − p̂P_t/‖ε₀‖ at
checkpoints; `C4-half-life`: the same at the half-life T (001's ‖ε₀‖/√2 when its inputs are exact);
`C4-inverse`: the inverse family against exp(−p̂P_t/‖ε₀‖), which needs 001's premise p_t ∝ ‖ε_t‖
(regime: the late cosine over the early one equals the distance ratio within the tolerance;
else `premise not met`); `C4-inverse-constant`: the inverse family against 1 − p̂P_t/‖ε₀‖, the law
with the cosine constant, as it is on this problem.
The lab's question, Amos against cosine on a noisy problem (`C4-vs-cosine`), is claims/amos_vs_cosine.py.
"""
import math

import numpy as np
import pandas as pd

from toylab import checks, estimators, plotting, schedules, theory
from toylab.analyses import Analysis, Figure, new_figure, schedule_label

SPEC = """
title = "Amos-style joint lr / weight-decay schedules"
claim = "C4"
question = \"\"\"With normalised steps α₀‖ε₀‖·f(t) and decoupled decay ρ_t = α₀²/2·f(t), does the distance to \
the optimum follow 001's law for the quadratic family 1/(α₀pt + 1)² once its inputs (‖ε₀‖, the cosine p) are \
measured, does the half-life rule put ‖ε_T‖ at 001's value, and does the inverse family's premise p_t ∝ ‖ε_t‖ hold?\"\"\"
seeds = [0, 1, 2, 3, 4, 5, 6, 7]
metric_every = 10
alpha0 = 0.008   # 001's α₀ of the trajectory checks; its half-lives T = 51.7767 (quadratic), 62.5 (inverse) for p = 1

# Full batch: k = 128 coordinates, W₀, W* ~ N(0, 1/128), N = 2048 isotropic inputs, so the gradient
# is 2(XᵀX/N)ε and its cosine to ε is ≈ 1/√(1 + k/N) = 0.970 (Marchenko–Pastur), nearly constant.
[[problems]]
name = "linear_regression"
steps = 300
d = 127
D = 1
n_train = 2048
batch_size = 0
reduction = "mean"
noise = 0.05
init_std = 0.0883883
w_star_std = 0.0883883

[[optimizers]]  # lr = α₀√2, λ = α₀/(2√2) at α₀ = 0.008
name = "muon"
lr = 0.011313708
weight_decay = 0.0028284271
momentum = 0.0
nesterov = false
adjust_lr = "none"
orthogonalizer = "svd"
schedules = {lr = ["amos:half_life=51.7767,form=quadratic", "amos:half_life=62.5,form=inverse"]}

[quick]
seeds = [0, 1]
metric_every = 5
"""
# alpha0: the α₀ of 001's half-lives (T = (√2 − 1)/(α₀p), p = 1); tolerance: relative, on ‖ε_t‖/‖ε₀‖
# over its first-order prediction, tight because the terms it drops (s², the decay's q ≈ 1/2, the
# cosine's drift) are < 0.5 % here: a law that holds only to 5 % would fail
SETTINGS = {"alpha0": ..., "tolerance": 0.02}


def distances(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, step) of `dist_to_opt`: `dist`, `e0` (its value at step 0), `ratio`, and the
    path P_t = Σ_{i≤t} lr_i (the step length of a unit direction) and `schedule`."""
    d = metrics[metrics["metric"] == "dist_to_opt"].rename(columns={"value": "dist"}).sort_values(["run", "step"])
    d["e0"] = d.groupby("run")["dist"].transform("first")
    d["ratio"] = d["dist"] / d["e0"]
    d["schedule"] = d["lr_schedule"].map(schedule_label)
    paths = {k: schedules.parse(k[0]).path(int(k[2]), k[1]) for k, _ in d.groupby(["lr_schedule", "lr", "steps"])}
    d["path"] = [paths[k][int(t)] for k, t in zip(zip(d["lr_schedule"], d["lr"], d["steps"]), d["step"])]
    return d


def predicted(d: pd.DataFrame, form: str) -> pd.DataFrame:
    """Adds `p_hat` (per seed, the cosine over the first record: the fall of ‖ε‖ per unit of path), `pred`
    (the ratio `theory.amos_distance_along_path` predicts from ‖ε₀‖ and that cosine) and `rel` = ratio/pred."""
    first = int(d.loc[d["step"] > 0, "step"].min())
    d = d.assign(p_hat=d["seed"].map(estimators.descent_rate(d, "path", "dist", 0, first)))
    d["pred"] = theory.amos_distance_along_path(d["path"], d["e0"], d["p_hat"], form)
    return d.assign(rel=d["ratio"] / d["pred"])


def analyze(tables, spec) -> Analysis:
    alpha0, tol = spec.settings["alpha0"], spec.settings["tolerance"]
    d = distances(tables["metrics"])
    full = d[np.isclose(d["lr"], alpha0 * math.sqrt(2))]
    quad = predicted(full[full["schedule"] == "amos quadratic T=51.8"], "quadratic")
    inv = predicted(full[full["schedule"] == "amos inverse T=62.5"], "inverse")
    steps, T, T_inv = int(full["step"].max()), 51.7767, 62.5
    inputs = f"‖ε₀‖ at step 0 and p̂ over steps 0–{int(quad['step'][quad['step'] > 0].min())}, per seed"
    check = lambda cid, t, form, predicts, kind="seed": checks.Check(  # noqa: E731
        "C4", cid, "‖ε_t‖/‖ε₀‖ over its prediction", f"each seed's ratio at step {t} (log-interpolated), full-batch "
        f"regression, {form} Amos at α₀ = {alpha0:g}", f"{predicts} ({inputs})", tol, kind=kind)
    traj = check("C4-trajectory", "t", f"quadratic (T = {T:g})", "1 − p̂P_t/‖ε₀‖: 001 eqs. varepsilon-t, alpha-rho-3")
    outcomes = checks.headline(traj, [checks.equivalence(traj, estimators.at_step(quad, t, "rel"), 1.0,
                                                         group=f"t={t:.0f}") for t in (2 * T, 4 * T, steps)])
    half = check("C4-half-life", f"T = {T:g} = (√2 − 1)/(α₀p), p = 1,", "quadratic", "1 − p̂P_T/‖ε₀‖; 001's "
                 "half-life rule: 1/√2 when p̂ = 1 and ‖ε₀‖ = √2")
    outcomes.append(checks.equivalence(half, estimators.at_step(quad, T, "rel"), 1.0))
    late = estimators.descent_rate(inv, "path", "dist", steps - 20, steps) / inv.groupby("seed")["p_hat"].first()
    premise = checks.equivalence(traj, late / estimators.at_step(inv, steps - 10, "ratio"), 1.0)
    regime = checks.Regime(premise.verdict == "holds", f"001's premise p_t = p₀‖ε_t‖/‖ε₀‖, late/early cosine over the "
                           f"distance ratio: {premise.measured:.3g}, {premise.reason}", "premise not met")
    inverse = check("C4-inverse", steps, f"inverse (T = {T_inv:g})", "exp(−p̂₀P_t/‖ε₀‖): 001 eq. alpha-rho-4, "
                    "1/√(2α₀p₀t + 1) when its inputs are exact")
    outcomes.append(checks.equivalence(inverse, estimators.at_step(inv, steps, "rel"), 1.0, regime=regime))
    constant = check("C4-inverse-constant", steps, f"inverse (T = {T_inv:g})", "1 − p̂P_t/‖ε₀‖: the lab's law with the "
                     "cosine constant, as it is on this problem", "hypothesis")
    outcomes.append(checks.equivalence(constant, estimators.at_step(predicted(inv, "quadratic"), steps, "rel"), 1.0))

    fig, axes = new_figure(2, width=4.4)
    both, t = pd.concat([quad, inv]), np.arange(steps + 1)
    plotting.seed_band(axes[0, 0], both, "step", "ratio", hue="schedule", log=True)
    plotting.theory_line(axes[0, 0], theory.amos_distance_ratio(t, alpha0), "001, its inputs: 1/(α₀pt+1)", x=t)
    plotting.mean_line(axes[0, 0], quad, "step", "pred", "measured inputs: 1 − p̂P_t/‖ε₀‖", linestyle=":")
    plotting.seed_band(axes[0, 1], both, "step", "rel", hue="schedule", log=False)
    axes[0, 1].axhspan(1 - tol, 1 + tol, color="0.9", zorder=0)
    plotting.label_panels(axes[0], [
        dict(yscale="log", xlabel="step t", ylabel="‖ε_t‖/‖ε₀‖", title=f"full batch, α₀ = {alpha0:g}"),
        dict(xlabel="step t", ylabel="measured / predicted", title=f"±{100 * tol:g} % shaded")], fontsize=6)
    inputs = quad.groupby("seed")[["e0", "p_hat"]].first()
    e0, p0 = inputs.agg(["mean", "std"]).T.to_numpy()
    numbers = {"‖ε₀‖ measured (001: √(2k)σ = √2)": f"{e0[0]:.4g} ± {e0[1]:.2g}", "cosine p̂ over the first record "
               "(001 assumes p = 1; Marchenko–Pastur 1/√(1 + k/N) = 0.970)": f"{p0[0]:.4g} ± {p0[1]:.2g}",
               **checks.numbers(outcomes, "verdict")}
    return Analysis(figures=[Figure("distance", fig, "Left: distance ratio of the two Amos families at 001's α₀ "
                                    "(geometric mean over seeds, band ×/÷ 2 s.e.; the quadratic one lies under its "
                                    "predictions), 001's law with its own inputs (dashed) and with measured ‖ε₀‖ and "
                                    "p̂ (dotted). Right: measured over predicted with measured inputs.")],
                    table=inputs.rename(columns={"e0": "‖ε₀‖", "p_hat": "cosine p̂ (first record)"}).reset_index(),
                    numbers=numbers, checks=outcomes, notes=NOTES)


NOTES = [
    "**001's equations, re-derived.** The one-step law (eq. base-approx) and its solution are right: a step of "
    "length s_t at cosine p to ε_t moves ‖ε_{t+1}‖ ≈ ‖ε_t‖ − p s_t once the decay cancels the s_t² term, and with "
    "s_t = √(2qρ_t)‖ε_t‖ (eq. base-cond-approx) this gives eq. varepsilon-t; dS/dt = α₀p e^{−S} gives "
    "e^{−2S} = 1/(α₀pt + 1)² (eq. alpha-rho-3) and, with p_t = p₀e^{−S_t}, e^{2S} = 2α₀p₀t + 1 (eq. alpha-rho-4). "
    "But the schedules of eqs. alpha-rho-3/-4 step s_t = α₀‖ε₀‖f(t) with 001's *estimates* of ‖ε₀‖ and p, not with "
    "the distance itself, so the distance follows ‖ε_t‖ = ‖ε₀‖ − p·P_t (P_t = Σ s_i), i.e. 1 − (p/p_s)(‖ε₀‖_est/‖ε₀‖)·"
    "α₀p_st/(α₀p_st + 1) for the quadratic family — 1/(α₀pt + 1) only when both estimates are exact. This report's "
    "earlier C4-trajectory 'fail' (+18 % at t = 300) was that mismatch (measured ‖ε₀‖ ≈ 1.47 against √2, cosine ≈ 0.97 "
    "against 1), not an error of 001's law: with both measured the checks above compare like with like.",
    "**Two slips in 001.** (1) 'θ*·ε_t ≈ 0 because random vectors are orthogonal' (before eq. base-cond-approx): "
    "ε_t = θ_t − θ* contains −θ*, so at init θ*·ε₀ = θ*·θ₀ − ‖θ*‖² ≈ −kσ² and q = θ₀·ε₀/‖ε₀‖² ≈ 1/2 for a matrix "
    "with ‖θ₀‖ = ‖θ*‖ (and q = 0 for a zero-initialised bias): the decay cancels about half the s² term, not all of it "
    "(second order, < 0.5 % here). (2) 'Scale Prediction' derives ‖ε₀‖² ≈ 2kσ² for matrices, then writes kσ² for all "
    "parameters; this report uses 2kσ² (√2 for k = 128, σ² = 1/128). Also S_t = Σ_{i=1}^{t−1} puts f = 1 at the "
    "first update where the ODE solution has f(1) = 1/(α₀p + 1)², a one-step shift the path P_t absorbs.",
    "**C4-inverse.** Its premise p_t ∝ ‖ε_t‖ needs a gradient whose cosine to ε falls with the distance, which a "
    "noise-dominated gradient gives (cos ≈ ‖Hε‖/‖noise‖); full-batch regression keeps the cosine near 0.97 while the "
    "distance falls, so the regime test measures the premise and the check stays inconclusive where it fails (cause "
    "`premise not met`: no longer run can change the problem's cosine, so the lab does not extend it). With a "
    "constant cosine the inverse family moves ‖ε_t‖ ≈ ‖ε₀‖(1 − (p/2p₀)ln(2α₀p₀t + 1)) instead: the lab's law "
    "1 − p̂P_t/‖ε₀‖ along the inverse schedule's own path, which holds (C4-inverse-constant).",
]
