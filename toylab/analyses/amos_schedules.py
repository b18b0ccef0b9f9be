"""docs/claims.md C4 (001): Amos-style joint lr / weight-decay schedules.

Runs: normalised updates of length α₀‖ε₀‖·f(t) (Muon without momentum) with decoupled decay
ρ_t = α₀²/2·f(t), for f = the quadratic family 1/(α₀pt + 1)², the inverse-time family
1/(2α₀p₀t + 1), a cosine and a constant schedule (same α₀, same tie ρ_t ∝ lr_t).

Distance: on linear regression ‖ε_t‖ = ‖W_t − W_opt‖ (the `dist_to_opt` metric, ε₀ measured at
step 0); on the row-normalised scale-invariant problem the distance between unit rows,
‖Ŵ_t − Ŵ*‖_F = √(2·d_out·(1 − teacher_cos)). Predictions (001, `theory.amos_distance_ratio`):
‖ε_t‖/‖ε₀‖ = exp(−S_t) = 1/(α₀pt + 1) (quadratic, cos(u, ε) = p constant) and
1/√(2α₀p₀t + 1) (inverse, p_t = p₀‖ε_t‖/‖ε₀‖). At the half-life T, f(T) = 1/2, so the lr and
ρ halve and the distance falls to ‖ε₀‖/√2 (its square halves).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import schedules, theory
from ..checks import Check, Regime, combine, equivalence, ordering
from .. import plotting
from . import Analysis, Figure, new_figure

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"alpha0": ..., "p": ..., "target_distance": ..., "tolerance": 0.1}

FORMS = {"amos_quadratic": "Amos 1/(α₀pt+1)²", "amos_inverse": "Amos 1/(2α₀p₀t+1)", "cosine": "cosine",
         "constant": "constant"}
FINAL_METRIC = {"linear_regression": "excess_loss", "scale_invariant": "loss"}


def schedule_name(spec: str) -> str:
    """`amos_quadratic`, `amos_inverse`, `cosine` or `constant` from an lr schedule spec."""
    parsed = schedules.parse(spec)
    return f"amos_{dict(parsed.params)['form']}" if parsed.kind == "amos" else parsed.kind


def half_life(spec: str) -> float:
    return float(dict(schedules.parse(spec).params)["half_life"])


def with_schedule(metrics: pd.DataFrame) -> pd.DataFrame:
    """The metrics with `schedule` (its kind) and the schedule's half-life `T`."""
    d = metrics.copy()
    d["schedule"] = d["lr_schedule"].map(schedule_name)
    d["T"] = d["lr_schedule"].map(lambda s: half_life(s) if s.startswith("amos") else math.nan)
    return d


def distances(d: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, step): `dist` and `ratio` = dist/dist at step 0."""
    lr = d[(d["problem"] == "linear_regression") & (d["metric"] == "dist_to_opt")].copy()
    si = d[(d["problem"] == "scale_invariant") & (d["metric"] == "teacher_cos")].copy()
    si["value"] = np.sqrt(2 * si["d_out"] * (1 - si["value"]).clip(lower=0))
    out = pd.concat([lr, si]).rename(columns={"value": "dist"})
    first = out[out["step"] == 0].set_index("run")["dist"]
    out["ratio"] = out["dist"] / out["run"].map(first)
    return out


def ratio_at(frame: pd.DataFrame, t: float) -> pd.Series:
    """Per seed, the distance ratio at step t, interpolated linearly in log between recorded steps."""
    def one(g):
        g = g.sort_values("step")
        return float(np.exp(np.interp(t, g["step"], np.log(g["ratio"].clip(lower=1e-300)))))
    return frame.groupby("seed").apply(one, include_groups=False)


def analyze(tables, spec) -> Analysis:
    alpha0, p, tol = float(spec.settings["alpha0"]), float(spec.settings["p"]), float(spec.settings.get("tolerance", 0.1))
    d = with_schedule(tables["metrics"])
    dist = distances(d)
    steps = int(d["step"].max())
    seeds = sorted(d["seed"].unique())
    window = f"{len(seeds)} seeds, {steps} steps"
    T_quad, T_inv = (float(x) for x in (theory.amos_half_life_rate(1, "quadratic") / (alpha0 * p),
                                          theory.amos_half_life_rate(1, "inverse") / (alpha0 * p)))
    rate_quad, rate_inv = alpha0 * p, alpha0 * p
    # 001's half-life for the assumed p; other half-lives in the spec are the free choice 001 leaves
    own = np.isnan(dist["T"]) | np.isclose(dist["T"], T_quad, rtol=1e-4) | np.isclose(dist["T"], T_inv, rtol=1e-4)
    lin = dist[(dist["problem"] == "linear_regression") & own]
    quad, inv = lin[lin["schedule"] == "amos_quadratic"], lin[lin["schedule"] == "amos_inverse"]

    # C4-trajectory: the quadratic family's ‖ε_t‖/‖ε₀‖ against 1/(α₀pt + 1) at checkpoints.
    traj = Check("C4", "C4-trajectory", "‖ε_t‖/‖ε₀‖",
                 f"each seed's ‖W_t − W_opt‖/‖W_0 − W_opt‖ (linear regression, full batch, quadratic Amos "
                 f"schedule α₀p = {rate_quad:.4g}), log-interpolated at step t; {window}",
                 "001 eq. varepsilon-t: exp(−S_t) = 1/(α₀pt + 1)", tol, kind="seed")
    checkpoints = [t for t in (2 * T_quad, 4 * T_quad, steps) if t <= steps]
    traj_groups = [equivalence(traj, ratio_at(quad, t), float(theory.amos_distance_ratio(t, rate_quad)), group=f"t={t:.0f}")
                   for t in checkpoints]
    outcomes = [combine(traj, traj_groups), *traj_groups]

    # C4-half-life: f(T) = 1/2 puts ‖ε_T‖ at ‖ε₀‖/√2.
    half = Check("C4", "C4-half-life", "‖ε_T‖/‖ε₀‖ at the half-life T",
                 f"each seed's distance ratio at T = {T_quad:g} = (√2 − 1)/(α₀p) (log-interpolated between "
                 f"recorded steps), quadratic Amos schedule, linear regression; {window}",
                 "001: (α₀pT + 1)² = 2 halves lr and ρ, so ‖ε_T‖ = ‖ε₀‖/√2", tol / 2, kind="seed")
    outcomes.append(equivalence(half, ratio_at(quad, T_quad), 1 / math.sqrt(2)))

    # C4-inverse: the inverse-time family assumes p_t = p₀‖ε_t‖/‖ε₀‖; full-batch least squares has cos ≈ 1.
    t_inv = min(2 * T_inv, steps)
    inverse = Check("C4", "C4-inverse", "‖ε_t‖/‖ε₀‖",
                    f"each seed's distance ratio at t = {t_inv:g}, inverse-time Amos schedule "
                    f"α₀p₀ = {rate_inv:.4g}, linear regression; {window}",
                    "001 eq. alpha-rho-4: exp(−S_t) = 1/√(2α₀p₀t + 1)", tol, kind="seed")
    regime = Regime(False, "001's rate p_t = p₀‖ε_t‖/‖ε₀‖ needs a gradient whose cosine to ε falls with the "
                           "distance (noise-dominated); the full-batch gradient keeps cos(u, ε) ≈ 1")
    outcomes.append(equivalence(inverse, ratio_at(inv, t_inv), float(theory.amos_distance_ratio(t_inv, rate_inv, "inverse")),
                             regime=regime))

    # C4-vs-cosine: final loss of each Amos family against the cosine schedule, paired by seed.
    vs = Check("C4", "C4-vs-cosine", "final loss ratio Amos/cosine",
               f"each seed's excess loss (linear regression) or evaluation loss (scale-invariant) at step {steps}, "
               f"ratio Amos/cosine at the same α₀ = {alpha0:g}, each Amos family at the half-life of its spec "
               f"grid with the lowest mean log final loss (chosen on these seeds); {window}",
               "001: the schedules as plug-and-play choices; here: Amos ends below cosine", 0.0, kind="hypothesis")
    final = d[d["step"] == steps]
    final = final[final["metric"] == final["problem"].map(FINAL_METRIC)].copy()
    final.loc[final["diverged"], "value"] = np.inf
    final["log"] = np.log(final["value"])
    groups = []
    for problem, f in final.groupby("problem"):
        cosine = f[f["schedule"] == "cosine"].set_index("seed")["value"]
        for form in ("amos_quadratic", "amos_inverse"):
            fam = f[f["schedule"] == form]
            best = fam.groupby("T")["log"].mean().idxmin()
            amos = fam[fam["T"] == best].set_index("seed")["value"]
            groups.append(ordering(vs, amos.loc[cosine.index], cosine, group=f"{problem}:{form}:T={best:g}"))
    outcomes += [combine(vs, groups), *groups]

    # ----- table, numbers, figures
    rows = []
    for (problem, name, T), g in dist.groupby(["problem", "schedule", "T"], dropna=False):
        last = g[g["step"] == steps].set_index("seed")["ratio"]
        loss = final[(final["problem"] == problem) & (final["schedule"] == name) & (final["T"].fillna(-1) == (-1 if np.isnan(T) else T))]["value"]
        rows.append({"problem": problem, "schedule": FORMS[name], "half-life T": T, "‖ε₀‖ (mean)": g[g["step"] == 0]["dist"].mean(),
                     f"‖ε_{steps}‖/‖ε₀‖ (geo. mean)": float(np.exp(np.log(last).mean())),
                     f"final loss (geo. mean over {len(loss)} seeds)": float(np.exp(np.log(loss).mean())),
                     "diverged": int(g.groupby("run")["diverged"].any().sum())})
    table = pd.DataFrame(rows)
    e0 = lin[lin["step"] == 0]["dist"]
    numbers = {"α₀ (relative step)": alpha0, "assumed p (quadratic family)": p,
               "half-life T = (√2 − 1)/(α₀p), steps": T_quad,
               "001's ‖ε₀‖ ≈ √(2k)σ": float(spec.settings["target_distance"]),
               "measured ‖ε₀‖, linear regression (mean ± sd over seeds)": f"{e0.mean():.4g} ± {e0.std():.2g}",
               **{f"{o.check_id}: measured [interval]": f"{o.measured:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}]"
                  for o in outcomes if not o.group}}
    verdict = " ".join(f"{o.check_id}: **{o.verdict}**." for o in outcomes if not o.group)

    fig, axes = new_figure(3, width=4.6)
    t = np.linspace(0, steps, 301)
    for ax, problem in zip(axes[0], ("linear_regression", "scale_invariant")):
        sub = dist[(dist["problem"] == problem) & own].assign(lr_schedule=lambda f: f["schedule"].map(FORMS))
        plotting.seed_band(ax, sub, "step", "ratio", hue="lr_schedule", log=True)
        plotting.theory_line(ax, theory.amos_distance_ratio(t, rate_quad), "001: 1/(α₀pt+1)", x=t)
        plotting.theory_line(ax, theory.amos_distance_ratio(t, rate_inv, "inverse"), "001: 1/√(2α₀p₀t+1)", x=t,
                             linestyle=":")
        ax.axvline(T_quad, color="0.6", linewidth=0.8)
        ax.axhline(1 / math.sqrt(2), color="0.6", linewidth=0.8)
        ax.set(yscale="log", xlabel="step t", ylabel="distance / distance at t = 0",
               title=problem + (" (‖W − W_opt‖)" if problem == "linear_regression" else " (‖Ŵ − Ŵ*‖, unit rows)"))
    plotting.legend(axes[0][0], fontsize=7, loc="lower left")
    ax = axes[0][2]
    rel = quad.assign(rel=quad["ratio"] / theory.amos_distance_ratio(quad["step"], rate_quad), lr_schedule=FORMS["amos_quadratic"])
    plotting.seed_band(ax, rel, "step", "rel", hue="lr_schedule", log=False)
    plotting.theory_line(ax, 1.0, "001: ‖ε_t‖ = ‖ε₀‖/(α₀pt+1)")
    for sign in (-1, 1):
        ax.axhline(1 + sign * tol, color="0.6", linestyle=":", linewidth=0.8)
    ax.set(xlabel="step t", ylabel="measured / predicted ‖ε_t‖/‖ε₀‖",
           title=f"linear_regression, quadratic family (±{100 * tol:g} % dotted)")
    plotting.legend(ax, fontsize=7, loc="upper left")
    fig2, axes2 = new_figure(2, width=5.0)
    for ax, problem in zip(axes2[0], ("linear_regression", "scale_invariant")):
        sub = d[(d["problem"] == problem) & (d["metric"] == FINAL_METRIC[problem])]
        sub = sub[np.isnan(sub["T"]) | np.isclose(sub["T"], T_quad, rtol=1e-4) | np.isclose(sub["T"], T_inv, rtol=1e-4)]
        plotting.seed_band(ax, sub.assign(lr_schedule=sub["schedule"].map(FORMS)), "step", "value", hue="lr_schedule",
                           log=True)
        ax.set(yscale="log", xlabel="step t", ylabel=FINAL_METRIC[problem], title=problem)
    plotting.legend(axes2[0][0], fontsize=7, loc="lower left")
    band = "geometric mean over seeds, band exp(mean ± 2 s.e.) of the log"
    T_note = f"Amos runs at 001's half-lives T = {T_quad:.4g} (quadratic) and {T_inv:.4g} (inverse) for p = {p:g}"
    return Analysis(
        figures=[Figure("distance", fig, f"{T_note}. Distance to the optimum over training ({band}); dashed/dotted: 001's "
                        "predictions for the two Amos families; grey lines: the half-life T and 1/√2."),
                 Figure("loss", fig2, f"{T_note}. Loss over training per schedule ({band}).")],
        table=table, numbers=numbers, verdict=verdict, checks=outcomes,
        notes=["The quadratic family's total path length is Σ α₀‖ε₀‖f(t) → ‖ε₀‖/p: it reaches the optimum only "
               "when 001's ‖ε₀‖ ≈ √(2k)σ and p are right, and a relative error δ in ‖ε₀‖ becomes an error "
               "δ·α₀pt in ‖ε_t‖/‖ε₀‖ at late t (the seed spread of C4-trajectory grows with t).",
               "With a constant cosine p the inverse-time family moves ‖ε_t‖ ≈ ‖ε₀‖(1 − (p/2p₀)ln(2α₀p₀t + 1)), "
               "which reaches 0 at t = (e^{2p₀/p} − 1)/(2α₀p₀); 001's 1/√(2α₀p₀t + 1) needs p_t ∝ ‖ε_t‖.",
               "001's derivation, re-done: eq. varepsilon-t, the ODE dS/dt = α₀p e^{−S} (e^{−2S} = 1/(α₀pt + 1)²) and, "
               "with p_t = p₀e^{−S_t}, e^{2S} = 2α₀p₀t + 1 are right. Three slips: after \"taking the square root:\" the "
               "equation √(2qρ_t) ≈ α₀e^{−S_t} is missing; \"Scale Prediction\" derives ‖ε₀‖² ≈ 2kσ² for matrices, then "
               "writes kσ² for all parameters (this report uses 2kσ²); S_t = Σ_{i=1}^{t−1} gives f = 1 at the first "
               "update, the ODE solution (and the `amos` schedule) f(1) = 1/(α₀p + 1)², a one-step shift. The "
               "half-life rule halves the lr and ρ at T; the distance falls to ‖ε₀‖/√2 there, not to half.",
               "Scale-invariant: the decay pulls ‖W‖ while the loss sees only W/‖W‖ per row, and the gradient "
               "is noisy, so the cosine p is neither 1 nor constant; no trajectory verdict is drawn there."])
