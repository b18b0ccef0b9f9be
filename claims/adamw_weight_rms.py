"""C2, C3 (000, docs/claims.md): weight RMS of AdamW and Signum under pure gradient noise g ~ N(μ, σ²).

Predictions (document 000, β3 = 1 − ηλ, ρ = μ²/σ², RMS₀ each seed's measured RMS at t = 0): AdamW
follows eq. 17 (eq. 18 when μ = 0) and settles at eq. 19 √(η/2λ); the quick eq. 7 is
√((1−β1)/(1+β1)·η/2λ); Signum follows eq. 25 and, for μ = 0, settles at eq. 26
√(η/2λ·(1+β1)/(1−β1)) or, exactly, at the arcsine-law value of `theory.signum_weight_rms_exact`.

Windows in decay timescales τ = 1/(ηλ): the early transient [`transient`]·τ and the steady state
[`steady`]·τ, reported as separate groups. Per seed (N coordinates each): for a curve, the ratio
√(Σ_W RMS(θ_t)² / Σ_W curve(t)²); for a steady state, √(mean_W RMS(θ_t)²). The steady window needs
≥ 4 timescales and a drift of RMS(θ)² between its halves within `drift` × the mean-field tolerance. Groups
are the (optimizer, μ, η, λ) settings; never pooled.
"""
import numpy as np
import pandas as pd

from toylab import checks, plotting, theory
from toylab.analyses import Analysis, Figure, new_figure, pair_first

SPEC = """
title = "AdamW and Signum weight RMS under pure gradient noise"
claim = "C2, C3"
question = "With gradients i.i.d. N(μ, σ²), does RMS(θ_t) follow the mean-field eq. 17 (AdamW, early transient and steady state) and settle at eq. 19 √(η/2λ) or at the quick eq. 7, and does Signum settle at eq. 26 or at the exact arcsine-law value?"
steps = 4000             # 8 decay timescales 1/(ηλ) = 500 steps
seeds = [0, 1, 2, 3, 4, 5, 6, 7]   # 8: the drift test of the steady window resolves ±2 % (±5 % with 4)
metric_every = 10

[[problems]]
name = "noise"
n = 2500                 # × 8 seeds = 2·10⁴ coordinates per setting
init_std = 0.1
mu = [0.0, 0.3]

[[optimizers]]
name = "adamw"
betas = [0.9, 0.95]
eps = 1e-8
lr = [1e-2, 2e-3]
tau_iter = 500          # λ = 1/(η·500): 0.2 and 1.0

[[optimizers]]
name = "signsgd"
momentum = 0.9
lr = [1e-2, 2e-3]
tau_iter = 500          # λ = 1/(η·500): 0.2 and 1.0

[quick]
steps = 200
metric_every = 10
seeds = [0, 1]

[[quick.problems]]
name = "noise"
n = 200
mu = [0.0, 0.3]
"""
# tolerance: relative, mean-field formulas (eqs. 7, 17, 19, 25, 26); exact_tolerance: the exact
# arcsine-law value; windows in timescales 1/(ηλ); drift: of RMS(θ)² between the steady window's halves,
# × the mean-field tolerance for every check (its noise: ±2 % over 8 seeds; the relaxation left at 4
# timescales is e⁻⁸ of the initial gap, so the test only guards against a mis-set window)
SETTINGS = {"tolerance": 0.05, "exact_tolerance": 0.02, "drift": 1.0, "transient": [0.1, 1.0], "steady": [4.0, 8.0]}


def beta1(r) -> float:
    return pair_first(r["betas"]) if r["optimizer"] == "adamw" else float(r["momentum"])


def label(r) -> str:
    return f"{'AdamW' if r['optimizer'] == 'adamw' else 'Signum'} μ={r['mu']:g} η={r['lr']:g} λ={r['weight_decay']:g}"


def steady_states(r) -> list:
    """(check id, prediction, value, kind) of one μ = 0 setting's steady state."""
    lr, wd, b1 = r["lr"], r["weight_decay"], beta1(r)
    if r["optimizer"] == "adamw":
        return [("C2-eq19", "√(η/2λ), 000 eq. 19", theory.adamw_weight_rms_steady(lr, wd), "seed"),
                ("C2-eq7", "√((1−β1)/(1+β1)·η/2λ), 000 eq. 7 (quick)", theory.adamw_weight_rms_quick(lr, wd, b1), "seed")]
    return [("C3-eq26", "√(η/2λ·(1+β1)/(1−β1)), 000 eq. 26", theory.signum_weight_rms_steady(lr, wd, b1), "seed"),
            ("C3-exact", "η²/(1−β3²)·Σ_k β3^|k| (2/π) arcsin(β1^|k|) (arcsine law)",
             theory.signum_weight_rms_exact(np.inf, lr, wd, b1, 0.0), "hypothesis")]


def analyze(tables, spec) -> Analysis:
    s = spec.settings
    m = tables["metrics"].query("metric == 'weight_rms'").sort_values("step")
    m = m.assign(value2=m["value"] ** 2)
    n = int(m["n"].iloc[0])
    found: dict[str, list] = {}
    check = {}

    def declare(cid, quantity, estimator, prediction, kind, tolerance):
        needs = checks.Needs(relaxation_times=s["steady"][0], drift=s["drift"] * s["tolerance"] / tolerance)
        return check.setdefault(cid, checks.Check(cid[:2], cid, quantity, estimator + f", RMS over N = {n} coordinates, "
                                                  "per seed", prediction, tolerance, kind=kind, needs=needs))

    curves = []
    for _, g in m.groupby(["optimizer", "mu", "lr", "weight_decay"], sort=True):
        r = g.iloc[0]
        tau, eq = float(theory.tau_iter(r["lr"], r["weight_decay"])), "eq. 17" if r["optimizer"] == "adamw" else "eq. 25"
        rms0 = g[g["step"] == 0].set_index("seed")["value"][g["seed"]].to_numpy()
        args = (g["step"].to_numpy(float), r["lr"], r["weight_decay"])
        curve = (theory.adamw_weight_rms(*args, rms0, r["mu"] ** 2 / r["sigma"] ** 2) if r["optimizer"] == "adamw"
                 else theory.signum_weight_rms(*args, beta1(r), rms0, r["mu"] ** 2 / r["sigma"] ** 2))
        g = g.assign(predicted2=curve**2)
        curves.append(g)
        a, b = (x * tau for x in s["steady"])
        settled = lambda c: checks.relaxed(c, a, tau, "timescales 1/(ηλ)") & checks.stationarity(  # noqa: E731
            g, a, b, c.needs.drift * c.tolerance, value="value2")
        for window in ("transient", "steady"):
            lo, hi = (x * tau for x in s[window])
            c = declare(f"{'C2' if eq == 'eq. 17' else 'C3'}-{eq.replace('. ', '')}", f"RMS(θ_t)/{eq}",
                        f"√(Σ_t RMS(θ_t)² / Σ_t {eq}²) over the group's window ({s['transient']}·τ or {s['steady']}·τ, "
                        "τ = 1/(ηλ))", f"{eq} of 000 (ratio 1)", "seed", s["tolerance"])
            inside = g[(g["step"] >= lo) & (g["step"] <= hi)].groupby("seed")[["value2", "predicted2"]].sum()
            found.setdefault(c.id, []).append(checks.equivalence(c, np.sqrt(inside["value2"] / inside["predicted2"]), 1.0,
                                                                 group=f"{window} {label(r)}", regime=settled(c) if window == "steady" else None))
        if r["mu"] == 0:
            values = np.sqrt(g[(g["step"] >= a) & (g["step"] <= b)].groupby("seed")["value2"].mean())
            for cid, prediction, value, kind in steady_states(r):
                c = declare(cid, "RMS(θ)", f"√(mean RMS(θ_t)² over steps {s['steady']}·τ, τ = 1/(ηλ))", prediction, kind,
                            s["exact_tolerance"] if kind == "hypothesis" else s["tolerance"])
                found.setdefault(cid, []).append(checks.equivalence(c, values, float(value), group=label(r), regime=settled(c)))
    outcomes = [o for cid in sorted(found) for o in checks.headline(check[cid], found[cid])]
    table = checks.ledger([o for o in outcomes if o.group], "adamw_weight_rms")[
        ["check", "predicted", "measured", "ci_low", "ci_high", "rel_error", "tolerance", "verdict", "cause"]]
    numbers = {o.check_id: f"{o.measured:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}] vs {o.predicted:.4g}" for o in outcomes if o.group}
    return Analysis(figures=[figure(pd.concat(curves), [o for o in outcomes if o.group], s["tolerance"])],
                    table=table, numbers=numbers, checks=outcomes, notes=NOTES)


def figure(curves, rows, tol) -> Figure:
    fig, axes = new_figure(2, width=5.6, height=max(3.6, 0.15 * len(rows)))
    ax, ax_err = axes[0]
    sel = curves[np.isclose(curves["lr"], 1e-2) & np.isclose(curves["mu"], 0.0)]
    plotting.seed_band(ax, sel, x="step", y="value", hue="optimizer", log=True)
    for opt, g in sel.groupby("optimizer"):
        mean = g.groupby("step")["predicted2"].mean()
        plotting.theory_line(ax, np.sqrt(mean.to_numpy()), f"{opt}: eq. {'17' if opt == 'adamw' else '25'}",
                             x=mean.index.to_numpy(), color=plotting.color(opt))
    ax.set(xscale="symlog", xlabel="step t", ylabel="RMS(θ_t)", title="μ = 0, η = 0.01, λ = 0.2")
    plotting.legend(ax, fontsize="xx-small")
    plotting.error_forest(ax_err, rows, tol)
    ax_err.set(title="every check (green holds, red fails)")
    plotting.legend(ax_err, fontsize="xx-small", loc="lower right")
    return Figure("weight_rms", fig, "Left: RMS(θ_t) of AdamW and Signum in one setting (line: geometric mean over seeds, "
                  "band ×/÷ 2 s.e.) and the mean-field curves eq. 17 / eq. 25 (dashed). Right: every check's relative "
                  "error with its interval (grey band: tolerance of the mean-field formulas).")


NOTES = [
    "Seed equations tested, each derived again here. **Eq. 17/18 and eq. 19 hold** (C2-eq17, C2-eq19). **Eq. 7 "
    "fails** (C2-eq7, +330 %): it squares eq. 2 into eq. 6 correctly, then drops the cross term θ_{t−1}·u_t, which is "
    "not small — with β1 > 0 successive updates are correlated (E[u_s u_{s+k}] ∝ β1^|k|) and θ_{t−1} holds the earlier "
    "ones. Kept, it gives the corrected form RMS(θ)² = η/(2λ)·(1−β1)(1+β1β3)/((1+β1)(1−β1β3))/(1−ηλ/2), "
    "β3 = 1 − ηλ (`theory.adamw_weight_rms_linear`), eq. 19 as ηλ → 0; eq. 7 keeps its k = 0 term only and is low by "
    "√((1−β1)/(1+β1)). The seed_000_check report measures the corrected form (C2-exact-seed000).",
    "**Eq. 25 fails at μ = 0 and eq. 26 fails** (C3-eq25, C3-eq26, −17 %); eq. 25 holds at μ = 0.3, where the signal "
    "fixes sign(m). The mean field gives sign(m) the autocorrelation β1^|k| of the Gaussian EMA m; the exact form "
    "(C3-exact) unrolls eq. 22, θ_t = β3θ_{t−1} − η·sign(m_t), to E[θ_∞²] = η²/(1−β3²)·Σ_{k∈ℤ} β3^|k| c_k with "
    "c_k = E[sign(m_s) sign(m_{s+k})] = (2/π)·arcsin(β1^|k|) — the arcsine law for the bivariate normal (m_s, m_{s+k}) "
    "of correlation β1^|k| (`theory.signum_weight_rms_exact`).",
]
