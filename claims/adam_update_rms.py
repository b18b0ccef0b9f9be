"""C1 (docs/claims.md): Adam's update RMS under zero-mean i.i.d. gradients, RMS(m̂/√v̂) → √((1−β1)/(1+β1)).

Per seed: √(mean over the window W = [window·T, T] of RMS(u_t)²), u_t = m̂_t/(√v̂_t + ε) from the
norms probe (`rms_direction`, RMS over the N coordinates). The claim is about t → ∞, so the window
must start ≥ 5 timescales 1/(1−β2) in and its two halves agree within `drift` × the tolerance.
One group per β setting; `C1-bc` and `C1-nobc` (with and without bias correction) need every group.
"""
import numpy as np
import pandas as pd

from toylab import checks, estimators, plotting, theory
from toylab.analyses import Analysis, Figure, new_figure

SPEC = """
title = "Adam's update RMS under pure gradient noise"
claim = "C1"
question = "For zero-mean i.i.d. gradients, does RMS(m̂/√v̂) settle at √((1−β1)/(1+β1)), with and without bias correction?"
steps = 10000            # 10/(1−β2) at β2 = 0.999: the window below starts at 5 timescales of v
seeds = [0, 1, 2, 3]
metric_every = 1000
probes = ["norms"]
probe_every = 50

[[problems]]
name = "noise"
n = 1000

[[optimizers]]
name = "adamw"
betas = [[0.5, 0.999], [0.9, 0.999], [0.95, 0.999], [0.9, 0.95]]
bias_correction = [true, false]
weight_decay = 0.0
eps = 1e-12

[quick]
steps = 50
seeds = [0, 1]
probe_every = 5
"""
# tolerance: relative, on the windowed RMS(u); window: the checks average steps [window·T, T];
# drift: between the window's halves, × the tolerance (its noise: ±1–2 % over 4 seeds)
SETTINGS = {"tolerance": 0.05, "window": 0.5, "drift": 0.5}
VARIANTS = {True: ("C1-bc", "on"), False: ("C1-nobc", "off")}


def analyze(tables, spec) -> Analysis:
    d = tables["norms"].query("quantity == 'rms_direction'")
    betas = d["betas"].str.split(",", expand=True).astype(float)
    d = d.assign(beta1=betas[0], beta2=betas[1], value2=d["value"] ** 2, bias_correction=d["bias_correction"].astype(bool))
    T = int(d["step"].max())
    start = spec.settings["window"] * T
    outcomes = []
    for bc, (check_id, _) in VARIANTS.items():
        check = checks.Check("C1", check_id, "RMS(m̂/(√v̂+ε))", f"√(mean over probes at steps {start:g}–{T} of "
                             f"RMS(u_t)²) per seed, RMS over N = {int(d['n'].iloc[0])} coordinates", "√((1−β1)/(1+β1))",
                             spec.settings["tolerance"], needs=checks.Needs(relaxation_times=5, drift=spec.settings["drift"]), kind="seed")
        groups = []
        for b, r in d[d["bias_correction"] == bc].groupby("betas"):
            regime = (checks.relaxed(check, start, 1 / (1 - r["beta2"].iloc[0]), "timescales 1/(1−β2)")
                      & checks.stationarity(r, start, T, check.needs.drift * check.tolerance, value="value2"))
            groups.append(checks.equivalence(check, np.sqrt(estimators.window(r, start, T, value="value2")),
                                             float(theory.adam_update_rms(r["beta1"].iloc[0])), group=f"β=({b})",
                                             regime=regime))
        outcomes += checks.headline(check, groups)
    table = pd.DataFrame([{"check": o.check.id, "betas": o.group, "seeds": o.n, "measured RMS(u)": o.measured,
                           "95 % interval": f"[{o.ci_low:.4g}, {o.ci_high:.4g}]", "C1": o.predicted,
                           "relative error": o.rel_error, "verdict": o.verdict, "cause": o.cause}
                          for o in outcomes if o.group])
    numbers = {f"{o.check_id}: RMS(u), steps {start:g}–{T}": f"{o.measured:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}] "
               f"vs {o.predicted:.4g} ({100 * o.rel_error:+.2g} %)" for o in outcomes if o.group}

    fig, axes = new_figure(2, width=5.0)
    for ax, (bc, (_, on)) in zip(axes[0], VARIANTS.items()):
        sub = d[d["bias_correction"] == bc]
        ax.set(xscale="log", yscale="log")
        plotting.seed_band(ax, sub, x="step", y="value", hue="betas")
        for b1, style in zip(sorted(sub["beta1"].unique()), ("--", ":", "-.", (0, (5, 1, 1, 1)))):
            plotting.theory_line(ax, float(theory.adam_update_rms(b1)), f"C1 √((1−β1)/(1+β1)), β1 = {b1:g}",
                                 linestyle=style)
        ax.axvspan(start, T, color="0.85", zorder=0, label="window of the check")
        ax.set(xlabel="step t", ylabel="RMS(m̂/(√v̂+ε))", title=f"bias correction {on}")
        plotting.legend(ax, fontsize="x-small", title="β = (β1, β2)", title_fontsize="x-small", ncol=2,
                        loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return Analysis(
        figures=[Figure("update_rms", fig, "RMS of Adam's update direction over training under N(0, 1) gradient noise "
                        "(line: geometric mean over seeds, band: ×/÷ 2 s.e. in log space); dashed/dotted: C1's "
                        "√((1−β1)/(1+β1)) per β1; grey: the window the checks average over.")],
        table=table, numbers=numbers, checks=outcomes,
        notes=[f"Without bias correction u_t is m_t/√v_t with v_t ≈ (1 − β2^t)σ²: the first update is (1−β1)/√(1−β2) "
               f"in RMS and the excess decays on the timescale 1/(1−β2) (1000 steps at β2 = 0.999). A window that "
               f"ends at T = 2/(1−β2), as this report once used, sees the transient, not the claim; here T = {T} and "
               f"the window starts at {start:g} steps."])
