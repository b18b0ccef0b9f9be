"""C7, C8 (002, docs/claims.md): which AdamW norm of a normalized (scale-invariant) layer is balanced at equilibrium.

Per seed, from the norms probe of each normalized layer: ρ = √(mean_W a² / mean_W b²) over a window
W of steps (`estimators.windowed_ratio`), with (a, b) = (‖g‖_{A⁻¹}/‖x‖_A, 1), (RMS(x), 1) or
(‖x‖_∞, 1). Windows: T/2…T at constant lr; the last 20 % under a cosine schedule. A group pools the
seeds of one (variant, problem, layer, λ, γ, β1). A check at equilibrium needs its window (for a
schedule: T/4…T/2, before the tail) to start ≥ 3 relaxation times in (`theory.adamw_norm_relaxation`,
whose slow mode is ≈ 2/(1−β2)) and, at constant lr, the drift of ‖x‖² between the window's halves
within a third of the check's ±10 % (±3.3 %; `toylab.layer_equilibrium`). AdamW runs at β2 = 0.99
so that T = 6000 steps covers ≥ 6 of its relaxation times (at β2 = 0.999 it would need ≈ 20 000);
β1 = 0 is 002 §4's assumption (m̂ = g), β1 = 0.9 tests 000 eq. 19 with momentum. SGD's equilibria
(C5, C6, C8-sgdc) are the claim `normalized_equilibrium`.
"""
import numpy as np

from toylab import checks, plotting, theory
from toylab.analyses import Analysis, Figure, new_figure, pair_first
from toylab.layer_equilibrium import HALF, MID, TAIL, at, norms, windowed_checks

SPEC = """
title = "Equilibrium of normalized layers under AdamW and AdamC"
claim = "C7, C8"
question = "On scale-invariant layers, which AdamW norm is balanced: the weighted ratio ‖g‖_{A⁻¹}/‖x‖_A, ‖x‖_∞ or RMS(x), and does corrected decay (AdamC) hold the weighted ratio at √(2λ/γ_max)?"
steps = 6000
# 16 seeds: at 8, RMS(x) on the MLP's W2 straddles C7-rms's ±10 % band, which more seeds narrow but the lab does not extend for
seeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
metric_every = 1000
probes = ["norms"]
probe_every = 20
budget = { steps = 4 }   # runs up to 24 000 steps: the MLP's W2 drifts past 6000 steps

[[problems]]
name = "scale_invariant"
noise = 0.5
init_std = 0.3

[[problems]]
name = "scale_invariant_mlp"
noise = 0.5
init_std = 0.3

[[optimizers]]
name = "adamw"
lr = 0.03
weight_decay = 0.3
betas = [[0.0, 0.99], [0.9, 0.99]]

[[optimizers]]
name = "adamw"
lr = 0.03
weight_decay = 0.3
betas = [0.0, 0.99]
corrected_decay = [false, true]
schedules = { lr = "cosine" }

[quick]
steps = 40
seeds = [0, 1]
probe_every = 5
"""
# tolerance: relative (twice SGD's, `normalized_equilibrium`); drift: of ‖x‖² between a window's halves, × the
# check's own tolerance (a drift that cannot move a verdict by more than a fraction of its band)
SETTINGS = {"tolerance": 0.1, "drift": 1 / 3}

ADAM = ["AdamW β1=0", "AdamW β1=0.9"]
# what an equivalence check measures, a/b (b = "": a alone), and the probe columns of a and b
WEIGHTED = ("‖g‖_{A⁻¹}/‖x‖_A", "", "adam_grad_to_weights", "one")
LINF, RMS = ("‖x‖_∞", "", "linf_weights", "one"), ("RMS(x)", "", "rms_weights", "one")
# equivalence checks: id, kind, tolerance (× `tolerance`), measured, window, regime window, variants, prediction,
# predict(run)
EQUAL = [("C7-inf", "seed", 1, LINF, HALF, HALF, ADAM[:1], "√(γ/(2λ)), 002 §4.2", at(theory.adamw_inf_norm)),
         ("C7-rms", "seed", 1, RMS, HALF, HALF, ADAM, "√(γ/(2λ)), 000 eq. 19", at(theory.adamw_weight_rms_steady)),
         ("C7-rms-finite", "hypothesis", 0.5, RMS, HALF, HALF, ADAM,
          "000 eq. 19 at finite ηλ, the cross term of eq. 6 kept (theory.adamw_weight_rms_linear, t → ∞)",
          lambda r: theory.adamw_weight_rms_linear(np.inf, r["lr"], r["weight_decay"], pair_first(r["betas"]), 0.0)),
         ("C7-weighted", "seed", 1, WEIGHTED, HALF, HALF, ADAM[:1], "√(2λ/γ), 002 §4 (β1 = 0)",
          at(theory.equilibrium_ratio)),
         ("C8-adamc", "seed", 1, WEIGHTED, TAIL, MID, ["AdamC β1=0 cosine"], "√(2λ/γ_max), 002 §5 (β1 = 0)",
          at(theory.equilibrium_ratio))]


def analyze(tables, spec) -> Analysis:
    wide = norms(tables)
    out = windowed_checks(spec, wide, EQUAL)
    table = checks.ledger(out, spec.name)[["check", "measured", "ci_low", "ci_high", "predicted", "verdict", "cause"]]
    return Analysis(figures=[figure(wide)], table=table, numbers=checks.numbers([o for o in out if not o.group]),
                    checks=out, notes=NOTES)


def figure(wide) -> Figure:
    fig, axes = new_figure(2, width=4.4)
    si = wide[wide["problem"].eq("scale_invariant")]
    plotting.target_bands(axes[0], [
        (si, "adam_grad_to_weights", at(theory.equilibrium_ratio), "√(2λ/γ_eff) at γ_max, 002",
         "‖g‖_{A⁻¹}/‖x‖_A: AdamW / AdamC"),
        (si[si["variant"].str.match(r"AdamW β1=[\d.]+$")], "rms_weights", at(theory.adamw_weight_rms_steady),
         "√(γ/(2λ)), 000 eq. 19", "RMS(x): AdamW, constant lr")],
        "step", hue="variant", xlabel="step t", legend_kw={"fontsize": "xx-small"}, log=True, linewidth=1.2)
    return Figure("equilibrium", fig, "The scale-invariant layer W, per variant (bands: ±2 s.e. of the log over seeds; "
                  "dashed: the seed's target at constant lr or at γ_max). Left: the AdamW/AdamC weighted ratio. Right: "
                  "AdamW's RMS(x) with and without momentum.")


NOTES = [
    "**002 §4** (AdamW, β1 = 0: ‖g‖_{A⁻¹}/‖x‖_A = √(2λ/γ)) is exact when ⟨A⁻¹g, Ax⟩ = ⟨g, x⟩ = 0 and A drifts slowly: "
    "C7-weighted. **002 §4.2** replaces ‖x‖_A by its Hölder upper bound ‖x‖_∞·√‖g‖₁, which only gives "
    "‖x‖_∞ ≥ √(γ/(2λ)); the seed's ‖x‖_∞ ≈ √(γ/(2λ)) fails (C7-inf) — what holds is the weighted ratio and, for a "
    "preconditioner roughly uniform over coordinates, **000 eq. 19** RMS(x) ≈ √(γ/(2λ)) (C7-rms). At finite ηλ and "
    "β1 > 0, 000's own eq. 6 with its cross term kept gives RMS(x)² = η/(2λ)·(1−β1)(1+β1β3)/((1+β1)(1−β1β3))/(1−ηλ/2), "
    "β3 = 1−ηλ (`theory.adamw_weight_rms_linear`; C7-rms-finite): 3.8 % below eq. 19 at ηλ = 0.009, β1 = 0.9. "
    "Measured at equilibrium, RMS(x) is within about 1 % of eq. 19 at β1 = 0 and about 8 % below it at β1 = 0.9: "
    "half of that is this finite-ηλ term, the other half the gradients' correlation in time under momentum, the "
    "mechanism of C5-momentum (`normalized_equilibrium`). The MLP's second layer W2 is the exception: its ‖x‖² "
    "wanders slowly (the drift between a window's halves varies by ±3 % from seed to seed), so its checks needed "
    "longer runs (12 000 steps, 26 relaxation times, section Evidence extended) and 16 seeds. There RMS(x) sits "
    "about 11 % above eq. 19 at β1 = 0 and 10 % below it at β1 = 0.9 (7 % below the finite-ηλ form), while the weighted ratio "
    "‖g‖_{A⁻¹}/‖x‖_A holds within 0.2 % on W2 as well (C7-weighted). What fails on W2 is the step from the weighted "
    "balance to RMS(x), which needs a preconditioner roughly uniform over the layer's coordinates; W2's weights are "
    "far from uniform (‖x‖_∞ is 8× its prediction there, against 3–3.5× on W and W1, C7-inf).",
    "Run length: AdamW's weight norm relaxes with the slow mode of the coupled (‖x‖², v) system, "
    "κ = [(2p+q) − √(4p²+q²)]/2 with p = 2γλ, q = 1−β2 (`theory.adamw_norm_relaxation`): ≈ 2/(1−β2) = 2000 steps at "
    "the default β2 = 0.999, which the report's earlier T = 6000 window (steps 3000–6000) did not cover — RMS(x) was "
    "still rising 2.5 % per half-window and read −10.7 %. Here β2 = 0.99 (231 steps) and every check at equilibrium "
    "declares ≥ 3 relaxation times and, at constant lr, a drift of ‖x‖² within a third of its own tolerance. **002 §5** "
    "(AdamC: λ̂_t = λγ_t/γ_max keeps √(2λ/γ_max); the seed writes η for γ_t in that line) holds: C8-adamc.",
]
