"""docs/claims.md C2, C3: weight RMS of AdamW and Signum under pure gradient noise g ~ N(μ, σ²).

Predictions (document 000, β3 = 1 − ηλ, ρ = μ²/σ², RMS₀ each seed's measured RMS at t = 0):
AdamW follows eq. 17 (eq. 18 when μ = 0) and settles at eq. 19 √(η/2λ); the quick eq. 7 is
√((1−β1)/(1+β1)·η/2λ); Signum follows eq. 25 and, for μ = 0, settles at eq. 26 √(η/2λ·(1+β1)/(1−β1))
or, exactly, at the arcsine-law value of `theory.signum_weight_rms_exact`.

Windows in decay timescales τ = 1/(ηλ): the early transient [`transient`]·τ and the steady state
[`steady`]·τ, reported separately. Per seed (N coordinates each): for a curve, the ratio
√(Σ_W RMS(θ_t)² / Σ_W curve(t)²); for a steady state, √(mean_W RMS(θ_t)²). The steady window must
pass a stationarity test. Groups are the (optimizer, μ, η, λ) settings; never pooled.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import checks, estimators, plotting, theory
from . import Analysis, Figure, new_figure, pair_first

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"tolerance": 0.05, "exact_tolerance": 0.02, "stationarity": 0.05, "transient": [0.1, 1.0],
            "steady": [4.0, 8.0], "key_setting": {"lr": 1e-2, "mu": 0.0}}


def beta1(row) -> float:
    return pair_first(row["betas"]) if row["optimizer"] == "adamw" else float(row["momentum"])


def curve(row, t, rms0):
    """Eq. 17 (AdamW) or eq. 25 (Signum) at steps `t` from RMS₀."""
    snr = row["mu"] ** 2 / row["sigma"] ** 2
    if row["optimizer"] == "adamw":
        return theory.adamw_weight_rms(t, row["lr"], row["weight_decay"], rms0, snr)
    return theory.signum_weight_rms(t, row["lr"], row["weight_decay"], beta1(row), rms0, snr)


def steady_states(row) -> dict:
    """{check id: (claim, prediction name, value, exact?)} of one setting's steady state."""
    lr, wd, b1, mu = row["lr"], row["weight_decay"], beta1(row), row["mu"]
    if row["optimizer"] == "adamw":
        if mu != 0:
            return {}
        return {"C2-eq19": ("C2", "eq. 19 √(η/2λ)", theory.adamw_weight_rms_steady(lr, wd), False),
                "C2-eq7": ("C2", "eq. 7 √((1−β1)/(1+β1)·η/2λ)", theory.adamw_weight_rms_quick(lr, wd, b1), False)}
    if mu != 0:
        return {}  # eq. 25's own limit is checked by the C3-eq25 steady window
    return {"C3-eq26": ("C3", "eq. 26 √(η/2λ·(1+β1)/(1−β1))", theory.signum_weight_rms_steady(lr, wd, b1), False),
            "C3-exact": ("C3", "η²/(1−β3²)·Σ_k β3^|k|(2/π)arcsin(β1^|k|), exact",
                         theory.signum_weight_rms_exact(np.inf, lr, wd, b1, 0.0), True)}


def label(row) -> str:
    name = "AdamW" if row["optimizer"] == "adamw" else "Signum"
    return f"{name} μ={row['mu']:g} η={row['lr']:g} λ={row['weight_decay']:g}"


def analyze(tables, spec) -> Analysis:
    tol, exact_tol = spec.settings.get("tolerance", 0.05), spec.settings.get("exact_tolerance", 0.02)
    stat_tol = spec.settings.get("stationarity", 0.05)
    m = tables["metrics"].query("metric == 'weight_rms'").sort_values("step").copy()
    m["value2"] = m["value"] ** 2
    n, T = int(m["n"].iloc[0]), int(m["step"].max())
    seeds = m["seed"].nunique()
    keys = ["optimizer", "mu", "lr", "weight_decay"]
    found: dict[str, list] = {}
    curves = []
    for setting, g in m.groupby(keys, sort=True):
        row = g.iloc[0]
        tau = 1 / (row["lr"] * row["weight_decay"])
        windows = {"transient": [x * tau for x in spec.settings.get("transient", [0.1, 1.0])],
                   "steady": [x * tau for x in spec.settings.get("steady", [4.0, 8.0])]}
        g = g.copy()
        rms0 = g[g["step"] == 0].set_index("seed")["value"]
        g["predicted2"] = curve(row, g["step"].to_numpy(float), rms0[g["seed"]].to_numpy()) ** 2
        curves.append(g)
        start, end = windows["steady"]
        regime = checks.stationarity(g, start, end, stat_tol, value="value2")
        if end > T:
            regime = checks.Regime(False, f"the steady window ends at step {end:g} > T = {T}")
        eq = "eq. 17" if row["optimizer"] == "adamw" else "eq. 25"
        claim = "C2" if row["optimizer"] == "adamw" else "C3"
        for window, (a, b) in windows.items():
            inside = g[(g["step"] >= a) & (g["step"] <= b)]
            ratio = np.sqrt(inside.groupby("seed")["value2"].sum() / inside.groupby("seed")["predicted2"].sum())
            check = checks.Check(claim, f"{claim}-{eq.replace('. ', '')}", f"RMS(θ_t)/{eq}",
                                 f"√(Σ_t RMS(θ_t)² / Σ_t {eq}²) over steps {a:g}–{b:g} ({window}) per seed, "
                                 f"RMS over N = {n} coordinates", f"{eq} (ratio 1)", tol, kind="seed")
            out = checks.equivalence(check, ratio, 1.0, group=f"{window} {label(row)}",
                                  regime=regime if window == "steady" else None)
            found.setdefault(check.id, []).append(out)
        values = np.sqrt(estimators.window(g, start, end, value="value2"))
        for cid, (c, name, predicted, exact) in steady_states(row).items():
            check = checks.Check(c, cid, "RMS(θ)", f"√(mean RMS(θ_t)² over steps {start:g}–{end:g}) per seed, RMS "
                                 f"over N = {n} coordinates", name, exact_tol if exact else tol,
                                 kind="hypothesis" if exact else "seed")
            found.setdefault(cid, []).append(checks.equivalence(check, values, float(predicted), group=label(row),
                                                             regime=regime))
    outcomes = []
    for cid in sorted(found):
        groups = found[cid]
        outcomes += [checks.combine(replace_check(groups[0].check), groups), *groups]
    curves = pd.concat(curves)

    figure = draw(curves, outcomes, spec, tol)
    table = pd.DataFrame([{"check": o.check_id, "prediction": o.check.prediction, "predicted": o.predicted,
                           "measured": o.measured, "95 % interval": f"[{o.ci_low:.4g}, {o.ci_high:.4g}]",
                           "relative error": o.rel_error, "tolerance": o.check.tolerance, "verdict": o.verdict}
                          for o in outcomes if o.group])
    heads = {o.check.id: o for o in outcomes if not o.group}
    groups = {o.check_id: o for o in outcomes if o.group}

    def worst(cid, window=""):
        sub = [o for o in found[cid] if o.group.startswith(window)]
        return max(sub, key=lambda o: abs(o.rel_error)) if sub else None

    def say(o):
        return (f"{100 * o.rel_error:+.2f} % [{100 * (o.ci_low / o.predicted - 1):+.2f}, "
                f"{100 * (o.ci_high / o.predicted - 1):+.2f}] ({o.group})")

    lines = [f"Every interval is over {seeds} seeds of N = {n} coordinates, T = {T} steps (8 decay timescales "
             f"1/(ηλ)); tolerance ±{100 * tol:g} % for the mean-field formulas, ±{100 * exact_tol:g} % for the exact one."]
    if "C2-eq17" in heads:
        lines.append(f"**C2-eq17 {heads['C2-eq17'].verdict}**: AdamW's RMS(θ_t) follows eq. 17 in the early "
                     f"transient (largest error {say(worst('C2-eq17', 'transient'))}) and at steady state "
                     f"(largest error {say(worst('C2-eq17', 'steady'))}), at μ = 0 and μ = 0.3.")
    for cid, text in (("C2-eq19", "settles at eq. 19 √(η/2λ)"), ("C2-eq7", "against the quick eq. 7"),
                      ("C3-eq25", "Signum against the mean-field curve eq. 25 (transient and steady windows)"),
                      ("C3-eq26", "Signum against eq. 26"), ("C3-exact", "Signum against the exact arcsine-law value")):
        if cid in heads:
            lines.append(f"**{cid} {heads[cid].verdict}**: {text}, largest error {say(worst(cid))}.")
    if "C3-eq26" in heads and "C3-exact" in heads:
        lines.append("Eq. 26 is too high because its mean field gives sign(m) the autocorrelation β1^|k| of the "
                     "Gaussian moving average; the signs have (2/π)·arcsin(β1^|k|) (docs/claims.md, C3).")
    numbers = {k: f"{o.measured:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}] vs {o.predicted:.4g}" for k, o in groups.items()}
    return Analysis(figures=[figure], table=table, numbers=numbers, verdict=" ".join(lines), checks=outcomes)


def replace_check(check: checks.Check) -> checks.Check:
    """The headline check of a set of groups: same id, estimator without the group's window."""
    return checks.Check(check.claim, check.id, check.quantity, "per group: " + check.estimator.split(" per seed")[0]
                        .split(" over steps")[0] + " over the group's window, per seed", check.prediction,
                        check.tolerance, check.level, kind=check.kind)


def draw(curves: pd.DataFrame, outcomes, spec, tol) -> Figure:
    rows = [o for o in outcomes if o.group]
    fig, axes = new_figure(2, width=5.6, height=max(3.6, 0.15 * len(rows)))
    ax, ax_err = axes[0]
    key = spec.settings.get("key_setting", {"lr": 1e-2, "mu": 0.0})
    sel = curves[np.isclose(curves["lr"], key["lr"]) & np.isclose(curves["mu"], key["mu"])]
    ax.set(xscale="symlog", yscale="log")
    plotting.seed_band(ax, sel.assign(value=np.sqrt(sel["value2"])), x="step", y="value", hue="optimizer")
    for opt, g in sel.groupby("optimizer"):
        mean = g.groupby("step")["predicted2"].mean()
        plotting.theory_line(ax, np.sqrt(mean.to_numpy()), f"{opt}: eq. {'17' if opt == 'adamw' else '25'}",
                             x=mean.index.to_numpy(), color=plotting.color(opt))
        row = g.iloc[0]
        if opt == "signsgd":
            t = mean.index.to_numpy(float)
            exact = theory.signum_weight_rms_exact(t, row["lr"], row["weight_decay"], beta1(row),
                                                   float(np.sqrt(g[g["step"] == 0]["value2"].mean())))
            plotting.theory_line(ax, exact, "signsgd: exact (arcsine law)", x=t, linestyle=":")
        else:
            plotting.theory_line(ax, float(theory.adamw_weight_rms_quick(row["lr"], row["weight_decay"], beta1(row))),
                                 "adamw: eq. 7 (quick)", linestyle="-.", color=plotting.color(opt))
    ax.set(xlabel="step t", ylabel="RMS(θ_t)", title=f"μ = {key['mu']:g}, η = {key['lr']:g}, λ = {sel['weight_decay'].iloc[0]:g}")
    plotting.legend(ax, fontsize="xx-small")
    y = np.arange(len(rows))
    err = np.array([100 * o.rel_error for o in rows])
    lo = np.array([100 * (o.ci_low / o.predicted - 1) for o in rows])
    hi = np.array([100 * (o.ci_high / o.predicted - 1) for o in rows])
    colors = [{"holds": "#2ca02c", "fails": "#d62728"}.get(o.verdict, "0.5") for o in rows]
    ax_err.axvspan(-100 * tol, 100 * tol, color="0.9", label=f"±{100 * tol:g} % tolerance")
    ax_err.errorbar(err, y, xerr=[err - lo, hi - err], fmt="none", ecolor="0.3", elinewidth=1)
    ax_err.scatter(err, y, c=colors, s=14, zorder=3)
    ax_err.axvline(0, color="0.2", linewidth=0.8)
    ax_err.set_yticks(y, [o.check_id for o in rows], fontsize=6)
    ax_err.set_xscale("symlog", linthresh=10)
    ax_err.set(xlabel="measured / predicted − 1 [%] (95 % interval over seeds)", title="every check (green holds, red fails)")
    ax_err.invert_yaxis()
    plotting.legend(ax_err, fontsize="xx-small", loc="lower right")
    return Figure("weight_rms", fig, "Left: RMS(θ_t) of AdamW and Signum in one setting (line: geometric mean over "
                  "seeds, band ×/÷ 2 s.e.), the mean-field curves eq. 17 / eq. 25 (dashed), Signum's exact curve "
                  "(dotted) and AdamW's quick eq. 7 (dash-dotted). Right: every check's relative error with its "
                  "interval (grey band: tolerance of the mean-field formulas).")
