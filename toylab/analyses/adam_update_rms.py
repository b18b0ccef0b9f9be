"""docs/claims.md C1: Adam's update RMS under zero-mean i.i.d. gradients, RMS(m̂/√v̂) → √((1−β1)/(1+β1)).

Reads the norms probe's `rms_direction`, RMS over the N coordinates of u_t = m̂_t/(√v̂_t + ε).
The claim is about t → ∞, so each seed's value is the windowed estimate √(mean_{t∈W} RMS(u_t)²)
over the window W = [`window` × T, T] (by default the second half of the run, which starts at
≥ 5 timescales 1/(1−β2) when T ≥ 10/(1−β2)), and the window must pass a stationarity test (drift
of mean RMS(u)² between its halves within `stationarity`). One check per β setting, with and
without bias correction, each against C1 with a relative tolerance; the headline rows `C1-bc` and
`C1-nobc` combine the β settings.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import checks, plotting, theory
from . import Analysis, Figure, new_figure, pair_first

VARIANTS = {True: ("C1-bc", "with bias correction"), False: ("C1-nobc", "without bias correction")}


def analyze(tables, spec) -> Analysis:
    tol, stat_tol = spec.extra.get("tolerance", 0.05), spec.extra.get("stationarity", 0.01)
    d = tables["norms"].query("quantity == 'rms_direction'").copy()
    d["beta1"] = d["betas"].map(pair_first)
    d["beta2"] = d["betas"].map(lambda b: float(str(b).split(",")[1]))
    d["bias_correction"] = d["bias_correction"].astype(bool)
    d["value2"] = d["value"] ** 2
    T = int(d["step"].max())
    start = spec.extra.get("window", 0.5) * T
    n = int(d["n"].iloc[0])

    outcomes, rows, worst = [], [], {}
    for bc, (check_id, name) in VARIANTS.items():
        check = checks.Check(
            "C1", check_id, "RMS(m̂/(√v̂+ε))",
            f"√(mean over probes at steps {start:g}–{T} of RMS(u_t)²) per seed, RMS over N = {n} coordinates",
            "√((1−β1)/(1+β1))", tolerance=tol)
        groups = []
        for betas in sorted(d.loc[d["bias_correction"] == bc, "betas"].unique()):
            r = d[(d["bias_correction"] == bc) & (d["betas"] == betas)]
            b1, b2 = r["beta1"].iloc[0], r["beta2"].iloc[0]
            values = np.sqrt(checks.window(r, start, T, value="value2"))
            regime = checks.stationarity(r, start, T, stat_tol, value="value2")
            timescales = start * (1 - b2)
            if timescales < 5:
                regime = checks.Regime(False, f"window starts at {timescales:.2g} timescales 1/(1−β2) (< 5); {regime.test}")
            out = checks.relative(check, values, float(theory.adam_update_rms(b1)), group=f"β=({betas})", regime=regime)
            groups.append(out)
            rows.append({"bias correction": bc, "betas": betas, "seeds": out.n, "measured RMS(u)": out.measured,
                         "95 % interval": f"[{out.ci_low:.4g}, {out.ci_high:.4g}]", "C1": out.predicted,
                         "relative error": out.rel_error, "verdict": out.verdict})
        outcomes += [checks.combine(check, groups), *groups]
        worst[bc] = max(groups, key=lambda o: abs(o.rel_error))
    table = pd.DataFrame(rows)

    fig, axes = new_figure(2, width=5.0)
    for ax, bc in zip(axes[0], (True, False)):
        sub = d[d["bias_correction"] == bc]
        ax.set(xscale="log", yscale="log")
        plotting.seed_band(ax, sub, x="step", y="value", hue="betas")
        for b1, style in zip(sorted(sub["beta1"].unique()), ("--", ":", "-.", (0, (5, 1, 1, 1)))):
            plotting.theory_line(ax, float(theory.adam_update_rms(b1)), f"C1 √((1−β1)/(1+β1)), β1 = {b1:g}",
                                 linestyle=style)
        ax.axvspan(start, T, color="0.85", zorder=0, label="window of the check")
        ax.set(xlabel="step t", ylabel="RMS(m̂/(√v̂+ε))", title=f"bias correction {'on' if bc else 'off'}")
        plotting.legend(ax, fontsize="x-small", title="β = (β1, β2)", title_fontsize="x-small", ncol=2,
                        loc="upper center", bbox_to_anchor=(0.5, -0.2))
    verdict = " ".join(
        f"**{check_id} {head.verdict}** ({name}): over {sum(table['bias correction'] == bc)} β settings the "
        f"windowed RMS(u) differs from √((1−β1)/(1+β1)) by at most {100 * abs(w.rel_error):.3g} % "
        f"({w.measured:.4g} [{w.ci_low:.4g}, {w.ci_high:.4g}] vs {w.predicted:.4g} at {w.group}, "
        f"{w.n} seeds, steps {start:g}–{T}; tolerance ±{100 * tol:g} %)."
        for (bc, (check_id, name)), head in zip(VARIANTS.items(), [o for o in outcomes if not o.group])
        for w in [worst[bc]])
    numbers = {f"{o.check_id}: RMS(u), steps {start:g}–{T}": f"{o.measured:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}] "
               f"vs {o.predicted:.4g} ({100 * o.rel_error:+.2g} %)" for o in outcomes if o.group}
    return Analysis(
        figures=[Figure("update_rms", fig, "RMS of Adam's update direction over training under N(0, 1) gradient noise "
                        "(line: geometric mean over seeds, band: ×/÷ 2 s.e. in log space); dashed/dotted: C1's "
                        "√((1−β1)/(1+β1)) per β1; grey: the window the checks average over.")],
        table=table, numbers=numbers, verdict=verdict, checks=outcomes,
        notes=[f"Without bias correction u_t is m_t/√v_t with v_t ≈ (1 − β2^t)σ²: the first update is (1−β1)/√(1−β2) "
               f"in RMS and the excess decays on the timescale 1/(1−β2) (1000 steps at β2 = 0.999). A window that "
               f"ends at T = 2/(1−β2), as this report once used, sees the transient, not the claim; here T = {T} and "
               f"the window starts at {start:g} steps."])
