"""docs/claims.md C5–C8: the equilibrium ‖g_t‖/‖x_t‖ of normalized (scale-invariant) layers.

Reads the norms probe of each normalized parameter. Targets (002 §3–5):

    SGD, constant γ (C5)         ‖g‖/‖x‖ = √(2λ/γ)      γ → γ/(1−β) with heavy-ball momentum β
    SGD, schedule γ_t (C6)       √(2λ/γ_t)              rises as γ_t → 0: the tail blow-up
    SGDC, schedule γ_t (C8)      √(2λ/γ_max)            λ_t = λγ_t/γ_max on normalized layers
    AdamW, constant γ (C7)       ‖g‖_{A⁻¹}/‖x‖_A = √(2λ/γ), A = √v̂ + ε; 002 §4.2 turns this into
                                 ‖x‖_∞ ≈ √(γ/(2λ)); with A uniform over coordinates it reads
                                 RMS(x) = √(γ/(2λ)) (000 eq. 19)
    AdamC, schedule γ_t (C8)     ‖g‖_{A⁻¹}/‖x‖_A = √(2λ/γ_max)

Estimators (one value per seed, for one group of runs with equal hyperparameters):
steady ratio ρ = √(mean_t ‖g_t‖² / mean_t ‖x_t‖²) over the window (from the probe's RMS of g and
θ, the same √d in both), steps T/2…T for a constant lr, the last 20 % of steps for a schedule's
tail and T/4…T/2 for mid-training. Regime test: the window (for a schedule, T/4: the layer must
reach its equilibrium at γ_max before the schedule decays, else a tail measurement says nothing
about C8) starts at least 3 relaxation times into the run, 1/(γ_eff λ) steps (AdamW: at least
1/(1−β2)); `checks.stationarity` of ‖g‖/‖x‖ on the window is reported alongside.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import checks, estimators, plotting, theory
from ..checks import Check, Regime
from ..schedules import parse
from . import Analysis, Figure, new_figure

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"tolerance": 0.05, "show_weight_decay": 0.1}

STATIONARY = 0.03  # drift between the two halves of a window, reported with the regime
RELAXATIONS = 3  # relaxation times before a window starts (e^−3 ≈ 5 % of the initial gap left)


def variant(row) -> str:
    schedule = row.get("lr_schedule")
    scheduled = isinstance(schedule, str) and schedule.split(":")[0] != "constant"
    name = {"sgd": "SGDC" if row["corrected_decay"] else "SGD",
            "adamw": "AdamC" if row["corrected_decay"] else "AdamW"}[row["optimizer"]]
    if row["optimizer"] == "sgd" and row.get("momentum", 0) > 0:
        name += f" (β={row['momentum']:g})"
    return name + (" cosine" if scheduled else "")


def lr_at(row, t):
    """γ_t of the run's schedule at steps t."""
    schedule = row.get("lr_schedule")
    spec = schedule if isinstance(schedule, str) else "constant"
    return parse(spec).values(int(row["steps_total"]), row["lr"]).numpy()[np.asarray(t, dtype=int)]


def wide_norms(norms: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, param, step) of the normalized layers, the probe's quantities as columns."""
    n = norms[norms["param"] != "V"]
    keys = ["run", "param", "step"]
    config = n.drop(columns=["quantity", "value"]).drop_duplicates(keys).set_index(keys)
    wide = n.pivot_table(index=keys, columns="quantity", values="value").join(config).reset_index()
    wide["steps_total"] = wide.groupby("run")["step"].transform("max")
    wide["variant"] = [variant(r) for r in wide.to_dict("records")]
    wide["group"] = [f"{r['problem']} {r['param']}, λ={r['weight_decay']:g}, γ={r['lr']:g}"
                     for r in wide.to_dict("records")]
    return wide


def mean_in(frame: pd.DataFrame, lo: float, hi: float, quantity: str) -> pd.Series:
    f = frame[(frame["step"] > lo * frame["steps_total"]) & (frame["step"] <= hi * frame["steps_total"])]
    return f.groupby("seed")[quantity].mean()


def rms_in(frame, lo, hi, quantity):
    return np.sqrt(mean_in(frame.assign(q2=frame[quantity] ** 2), lo, hi, "q2"))


def relaxation_steps(row) -> float:
    """Steps for the weight norm to relax to its equilibrium: 1/(γ_eff λ) (the per-step decay of ‖x‖²
    is 2γλ; heavy-ball coupled decay passes through the momentum, γ_eff = γ(1−τ)/(1−β)), and for
    AdamW at least 1/(1−β2), the memory of v̂ that sets A."""
    if row["optimizer"] == "adamw":
        return max(1 / (row["lr"] * row["weight_decay"]), 1 / (1 - float(str(row["betas"]).split(",")[1])))
    return float(theory.tau_iter(theory.sgd_effective_lr(row["lr"], row["momentum"], row["dampening"]), row["weight_decay"]))


def regime(frame: pd.DataFrame, lo: float, hi: float, quantity: str = "grad_to_weights") -> Regime:
    """Reached when the window starts ≥ RELAXATIONS relaxation times into the run (at γ_max); the
    stationarity drift between the window's halves is reported alongside (noisy on the MLP)."""
    r = frame.iloc[0]
    T, tau = r["steps_total"], relaxation_steps(r)
    drift = checks.stationarity(frame.rename(columns={quantity: "value"}), lo * T, hi * T, STATIONARY)
    times = lo * T / tau
    return Regime(times >= RELAXATIONS, f"window starts {times:.3g} relaxation times ({tau:.0f} steps) into the run, "
                                        f"{'≥' if times >= RELAXATIONS else '<'} {RELAXATIONS}; {drift.test}")


def both(regimes: list[Regime]) -> Regime:
    return Regime(all(r.reached for r in regimes), "; ".join(r.test for r in regimes))


def analyze(tables, spec) -> Analysis:
    tol = spec.settings.get("tolerance", 0.05)
    wide = wide_norms(tables["norms"])
    groups = {k: g for k, g in wide.groupby(["variant", "group"], sort=True)}
    out, rows = [], []

    def each(name):
        return [(k[1], g) for k, g in groups.items() if k[0] == name]

    def sgd_target(g):
        r = g.iloc[0]
        return float(theory.equilibrium_ratio(theory.sgd_effective_lr(r["lr"], r["momentum"], r["dampening"]),
                                              r["weight_decay"]))

    # C5: constant-lr SGD and heavy-ball SGD reach √(2λ/γ_eff) on every layer
    c5 = {"SGD": Check("C5", "C5-sgd", "‖g‖/‖x‖", "√(mean ‖g‖²/mean ‖x‖²) over steps T/2…T per seed",
                       "√(2λ/γ), 002 eq. 2", tol, kind="seed"),
          "SGD (β=0.9)": Check("C5", "C5-momentum", "‖g‖/‖x‖", "√(mean ‖g‖²/mean ‖x‖²) over steps T/2…T per seed",
                               "√(2λ(1−β)/γ), 002 §3.1", tol, kind="seed")}
    steady = {}
    for name, check in c5.items():
        outs = []
        for group, g in each(name):
            steady[(name, group)] = estimators.windowed_ratio(g, 0.5, 1.0)
            outs.append(checks.equivalence(check, steady[(name, group)], sgd_target(g), group=group,
                                        regime=regime(g, 0.5, 1.0)))
        out += outs + ([checks.combine(check, outs)] if outs else [])

    # C5 layer balancing: per hyperparameter setting of the MLP, ρ(W2)/ρ(W1) per seed = 1
    balance = Check("C5", "C5-balance", "ρ(W2)/ρ(W1)", "ratio of the two MLP layers' steady ‖g‖/‖x‖ "
                    "(√(mean ‖g‖²/mean ‖x‖²) over T/2…T) per seed, one hyperparameter setting", "1 (layer balancing, 002 §3.2)", tol, kind="seed")
    bal = []
    mlp = wide[wide["problem"] == "scale_invariant_mlp"]
    for (name, lam, lr), g in mlp[mlp["variant"].isin(list(c5))].groupby(["variant", "weight_decay", "lr"], sort=True):
        layers = {p: estimators.windowed_ratio(gp, 0.5, 1.0) for p, gp in g.groupby("param")}
        if len(layers) < 2:
            continue
        (p1, r1), (p2, r2) = sorted(layers.items())[:2]
        bal.append(checks.equivalence(balance, r2 / r1, 1.0, group=f"{name}, λ={lam:g}, γ={lr:g}",
                                   regime=both([regime(gp, 0.5, 1.0) for _, gp in g.groupby("param")])))
    out += bal + ([checks.combine(balance, bal)] if bal else [])

    # C6: the tail rise of SGD under a cosine schedule, measured; and the target followed mid-training
    tail = Check("C6", "C6-tail", "ρ(T/4…T/2) / ρ(last 20 %)", "√(mean ‖g‖²/mean ‖x‖²) in each window, per seed; "
                 "paired ratio mid/tail", "ρ rises in the tail (ratio < 1/1.1)", np.log(1.1), kind="seed")
    track = Check("C6", "C6-track", "‖g‖/‖x‖ over T/4…T/2", "√(mean ‖g‖²/mean ‖x‖²) over T/4…T/2 per seed",
                  "√(2λ/ mean γ_t) over the window, 002 eq. 2", tol, kind="seed")
    tails, tracks, lag = [], [], {}
    for group, g in each("SGD cosine"):
        r = g.iloc[0]
        mid, end = estimators.windowed_ratio(g, 0.25, 0.5), estimators.windowed_ratio(g, 0.8, 1.0)
        tails.append(checks.ordering(tail, mid, end, group=group))
        steps = np.sort(g["step"].unique())
        gamma = lr_at(r, steps[(steps > 0.25 * r["steps_total"]) & (steps <= 0.5 * r["steps_total"])])
        tracks.append(checks.equivalence(track, mid, float(theory.equilibrium_ratio(gamma.mean(), r["weight_decay"])),
                                      group=group))
        curve = g.groupby("step")["grad_to_weights"].mean()
        target = theory.scheduled_equilibrium_ratio(lr_at(r, curve.index), r["weight_decay"])
        off = curve.index[(curve.values < 0.9 * target) & (curve.index > 0.5 * r["steps_total"])]
        lag[group] = (int(off[0]), float(lr_at(r, [off[0]])[0])) if len(off) else None
        rows.append({"variant": "SGD cosine", "group": group, "tail rise ρ_tail/ρ_mid": float((end / mid).mean())})
    out += tails + ([checks.combine(tail, tails)] if tails else [])
    out += tracks + ([checks.combine(track, tracks)] if tracks else [])

    # C8 SGDC: the tail keeps √(2λ/γ_max), once the layer has reached equilibrium by mid-training
    sgdc = Check("C8", "C8-sgdc", "‖g‖/‖x‖ in the last 20 %", "√(mean ‖g‖²/mean ‖x‖²) over the last 20 % per seed",
                 "√(2λ/γ_max), 002 §5", tol, kind="seed")
    outs = []
    for group, g in each("SGDC cosine"):
        outs.append(checks.equivalence(sgdc, estimators.windowed_ratio(g, 0.8, 1.0), sgd_target(g), group=group,
                                    regime=regime(g, 0.25, 0.5)))
        rows.append({"variant": "SGDC cosine", "group": group,
                     "tail rise ρ_tail/ρ_mid": float((estimators.windowed_ratio(g, 0.8, 1.0) / estimators.windowed_ratio(g, 0.25, 0.5)).mean())})
    out += outs + ([checks.combine(sgdc, outs)] if outs else [])

    # C7: AdamW at constant lr: ∞-norm (002 §4.2), RMS (000 eq. 19) and the weighted ratio (002 §4)
    c7 = [("C7-inf", "‖x‖_∞", "mean of ‖x_t‖_∞ over T/2…T per seed", "√(γ/(2λ)), 002 §4.2",
           lambda g: mean_in(g, 0.5, 1.0, "linf_weights"), lambda lr, lam: theory.adamw_inf_norm(lr, lam)),
          ("C7-rms", "RMS(x)", "√(mean RMS(x_t)²) over T/2…T per seed", "√(γ/(2λ)), 000 eq. 19",
           lambda g: rms_in(g, 0.5, 1.0, "rms_weights"), lambda lr, lam: theory.adamw_weight_rms_steady(lr, lam)),
          ("C7-weighted", "‖g‖_{A⁻¹}/‖x‖_A", "√(mean of its square) over T/2…T per seed, A = √v̂+ε",
           "√(2λ/γ), 002 §4", lambda g: rms_in(g, 0.5, 1.0, "adam_grad_to_weights"),
           lambda lr, lam: theory.equilibrium_ratio(lr, lam))]
    for cid, quantity, estimator, prediction, measure, predict in c7:
        check, outs = Check("C7", cid, quantity, estimator, prediction, 0.1, kind="seed"), []
        for group, g in each("AdamW"):
            if cid == "C7-weighted" and "adam_grad_to_weights" not in g:
                continue
            r = g.iloc[0]
            outs.append(checks.equivalence(check, measure(g), float(predict(r["lr"], r["weight_decay"])), group=group,
                                        regime=regime(g, 0.5, 1.0, "rms_weights")))
        out += outs + ([checks.combine(check, outs)] if outs else [])

    # C8 AdamC: the weighted ratio keeps √(2λ/γ_max) through the cosine schedule
    adamc = Check("C8", "C8-adamc", "‖g‖_{A⁻¹}/‖x‖_A in the last 20 %", "√(mean of its square) over the last 20 % "
                  "per seed", "√(2λ/γ_max), 002 §5", 0.1, kind="seed")
    outs = []
    for group, g in each("AdamC cosine"):
        if "adam_grad_to_weights" not in g:
            continue
        r = g.iloc[0]
        outs.append(checks.equivalence(adamc, rms_in(g, 0.8, 1.0, "adam_grad_to_weights"),
                                    float(theory.equilibrium_ratio(r["lr"], r["weight_decay"])), group=group,
                                    regime=regime(g, 0.25, 0.5, "adam_grad_to_weights")))
    for name in ("AdamW cosine", "AdamC cosine"):
        for group, g in each(name):
            if "adam_grad_to_weights" in g:
                rows.append({"variant": name, "group": group, "tail rise ρ_tail/ρ_mid": float(
                    (rms_in(g, 0.8, 1.0, "adam_grad_to_weights") / rms_in(g, 0.25, 0.5, "adam_grad_to_weights")).mean())})
    out += outs + ([checks.combine(adamc, outs)] if outs else [])

    table = pd.DataFrame([{"check": o.check_id, "measured": o.measured, "interval": f"[{o.ci_low:.4g}, {o.ci_high:.4g}]",
                           "predicted": o.predicted, "verdict": o.verdict} for o in out])
    numbers = {f"{r['variant']} [{r['group']}]: ρ(last 20 %)/ρ(T/4…T/2), seed mean": f"{r['tail rise ρ_tail/ρ_mid']:.3g}"
               for r in rows}
    for group, hit in lag.items():
        numbers[f"SGD cosine [{group}]: first step after T/2 where ‖g‖/‖x‖ < 0.9·√(2λ/γ_t)"] = (
            "never" if hit is None else f"{hit[0]} (γ_t = {hit[1]:.3g}, relaxation time 1/(2γ_tλ) = "
            f"{1 / (2 * hit[1] * float(groups[('SGD cosine', group)]['weight_decay'].iloc[0])):.0f} steps)")
    heads = {o.check.id: o for o in out if not o.group}
    verdict = " ".join(f"{cid}: **{o.verdict}** ({o.reason})." for cid, o in heads.items())
    T = int(wide["steps_total"].max())
    seeds = sorted(wide["seed"].unique())
    notes = [f"Runs of T = {T} steps, seeds {', '.join(map(str, seeds))}; every check pools only runs with equal "
             "hyperparameters (problem, layer, λ, γ, momentum, schedule).",
             "Source document 002 §4.2 replaces ‖x‖_A by its Hölder upper bound ‖x‖_∞·√‖g‖₁ and writes the "
             "result as ‖x‖_∞ ≈ √(γ/(2λ)); the bound only gives ‖x‖_∞ ≥ √(γ/(2λ)) (for A ≈ |g|), which is what "
             "C7-inf measures. What holds is the weighted ratio itself (C7-weighted) and, for a preconditioner "
             "roughly uniform over coordinates, RMS(x) ≈ √(γ/(2λ)) (C7-rms)."]
    return Analysis(figures=[sgd_figure(wide, spec), adam_figure(wide)], table=table, numbers=numbers,
                    verdict=verdict, notes=notes, checks=out)


def log_band(ax, frame, y, label, color, linestyle="-"):
    """Seed band of `y` against step in log space (`plotting.seed_band`), one line."""
    plotting.seed_band(ax, frame, "step", y, log=True, label=label, color=color, linestyle=linestyle, linewidth=1.2)


def sgd_figure(wide, spec) -> Figure:
    fig, axes = new_figure(2, width=5.0)
    lam = spec.settings.get("show_weight_decay", 0.1)
    ax = axes[0, 0]
    main = wide[(wide["problem"] == "scale_invariant") & np.isclose(wide["weight_decay"], lam)]
    for name in ("SGD", "SGD cosine", "SGDC cosine"):
        g = main[main["variant"] == name]
        if g.empty:
            continue
        log_band(ax, g, "grad_to_weights", name, plotting.color(name))
        r = g.iloc[0]
        steps = np.sort(g["step"].unique())
        target = (theory.scheduled_equilibrium_ratio(lr_at(r, steps), r["weight_decay"]) if name == "SGD cosine"
                  else np.full(len(steps), theory.equilibrium_ratio(r["lr"], r["weight_decay"])))
        plotting.theory_line(ax, target, {"SGD": "√(2λ/γ)", "SGD cosine": "√(2λ/γ_t)", "SGDC cosine": "√(2λ/γ_max)"}[name],
                             x=steps, color=plotting.color(name))
    top = main["grad_to_weights"].max() if len(main) else 1.0
    ax.set(yscale="log", ylim=(None, 3 * top), xlabel="step t", ylabel="‖g_t‖/‖x_t‖",
           title=f"one normalized layer, λ = {lam:g} (dashed: targets)")
    plotting.legend(ax, fontsize="x-small")
    ax = axes[0, 1]
    mlp = wide[(wide["problem"] == "scale_invariant_mlp") & wide["variant"].isin(["SGD", "SGD (β=0.9)"])]
    settings = mlp.groupby(["variant", "weight_decay", "lr"], sort=True)
    colors = plotting.palette([f"{name} λ={lam:g}" for (name, lam, _), _ in settings])
    for (name, lam, lr), g in settings:
        color = colors[f"{name} λ={lam:g}"]
        for param, style in zip(sorted(g["param"].unique()), ("-", ":")):
            log_band(ax, g[g["param"] == param], "grad_to_weights", f"{name} λ={lam:g}, {param}", color, style)
        r = g.iloc[0]
        plotting.theory_line(ax, theory.equilibrium_ratio(theory.sgd_effective_lr(lr, r["momentum"], r["dampening"]), lam),
                             f"target, λ={lam:g}", color=color)
    ax.set(yscale="log", xlabel="step t", ylabel="‖g_t‖/‖x_t‖", title="layer balancing: MLP layers, per (λ, γ, β)")
    plotting.legend(ax, fontsize="x-small")
    caption = ("Left: ‖g‖/‖x‖ of a normalized layer under SGD (constant lr, cosine, cosine with SGDC); dashed: "
               "√(2λ/γ) and the moving target √(2λ/γ_t) of the cosine schedule. Right: the two normalized layers of "
               "the MLP (solid W1, dotted W2), one colour per hyperparameter setting, dashed: its √(2λ/γ_eff). "
               "Bands: ±2 s.e. of log ‖g‖/‖x‖ over seeds.")
    return Figure("equilibrium", fig, caption)


def adam_figure(wide) -> Figure:
    fig, axes = new_figure(2, width=5.0)
    adam = wide[(wide["problem"] == "scale_invariant") & wide["optimizer"].eq("adamw")]
    ax = axes[0, 0]
    if "adam_grad_to_weights" in adam:
        for name in sorted(adam["variant"].unique()):
            log_band(ax, adam[adam["variant"] == name], "adam_grad_to_weights", name, plotting.color(name))
        if len(adam):
            r = adam.iloc[0]
            plotting.theory_line(ax, theory.equilibrium_ratio(r["lr"], r["weight_decay"]), "√(2λ/γ_max)")
        plotting.legend(ax, fontsize="x-small")
    ax.set(yscale="log", xlabel="step t", ylabel="‖g‖_{A⁻¹}/‖x‖_A", title="AdamW / AdamC: weighted ratio")
    ax = axes[0, 1]
    const = adam[adam["variant"] == "AdamW"]
    for quantity, color in (("linf_weights", "C3"), ("rms_weights", "C0")):
        if len(const):
            log_band(ax, const, quantity, {"linf_weights": "‖x‖_∞", "rms_weights": "RMS(x)"}[quantity], color)
    if len(const):
        r = const.iloc[0]
        plotting.theory_line(ax, theory.adamw_weight_rms_steady(r["lr"], r["weight_decay"]), "√(γ/(2λ))")
    ax.set(yscale="log", xlabel="step t", ylabel="weight norm", title="AdamW, constant lr: ∞-norm and RMS")
    plotting.legend(ax, fontsize="x-small")
    caption = ("AdamW and AdamC on the normalized layer. Left: ‖g‖_{A⁻¹}/‖x‖_A (A = √v̂+ε) for constant and "
               "cosine lr; dashed: √(2λ/γ_max). Right: ‖x‖_∞ and RMS(x) at constant lr against √(γ/(2λ)) (002 §4.2 "
               "predicts it for ‖x‖_∞). Bands: ±2 s.e. of the log over seeds.")
    return Figure("adam", fig, caption)
