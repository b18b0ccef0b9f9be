"""C14 (003, docs/claims.md) part (c): the notepad's β2 = 0 Adam against SGD with momentum.

Trajectory gap of two runs A, S with the same seed (same batches, θ₀ = 0): from the weights
probe, G = max over probe steps t of ‖θ_A,t − θ_S,t‖/‖θ_S,t‖ (one value per seed).

Adam with β2 = 0 against torch's SGD with momentum: from the pair that matches in every term
(`C14-beta2-zero`, a control: equal to rounding), each difference put back alone (normalisation
by |g_t| + ε, dampening 0, coupled decay g + λθ, bias correction, zero init), and torch's defaults
with all of them (`C14-beta2-terms`).
"""
import numpy as np
import pandas as pd

from toylab import checks, estimators, plotting
from toylab.analyses import Analysis, Figure, new_figure

SPEC = '''
title = "The notepad's β2 = 0 Adam against SGD with momentum"
claim = "C14"
question = """Adam with β2 = 0 against torch's SGD with momentum: which terms (normalisation, dampening, \
coupled decay, the first step) make them differ, and do they coincide to rounding once all are removed?"""
steps = 300
seeds = [0, 1, 2, 3, 4]
metric_every = 10
probes = ["weights"]
probe_every = 10
dtype = "float64"
huge_eps = 1e20        # |g| + 10²⁰ == 10²⁰ in float64, so m̂/(|g| + ε) = m̂/ε exactly
rounding_bound = 1e-10 # relative trajectory gap allowed once every difference is removed
# the matched pair [Adam run, SGD run] (labels: `label_runs`), and each difference put back alone:
# [ledger group, the difference, Adam run, SGD run]
beta2_matched = ["A eps=huge bc=0 zi=0", "S tau=0.9 wd=0.01 decoupled=1"]
beta2_terms = [
    ["normalisation", "normalisation m̂/(|g_t| + ε)", "A eps=small bc=0 zi=0", "S tau=0.9 wd=0.01 decoupled=1"],
    ["dampening", "dampening τ = 0 (torch default)", "A eps=huge bc=0 zi=0", "S tau=0 wd=0.01 decoupled=1"],
    ["coupled-decay", "coupled decay g + λθ (torch)", "A eps=huge bc=0 zi=0", "S tau=0.9 wd=0.01 decoupled=0"],
    ["bias-correction", "bias correction 1/(1 − β1^t)", "A eps=huge bc=1 zi=0", "S tau=0.9 wd=0.01 decoupled=1"],
    ["zero-init", "zero init m₀ = 0", "A eps=huge bc=0 zi=1", "S tau=0.9 wd=0.01 decoupled=1"],
    ["bias-correction+zero-init", "bias correction and zero init", "A eps=huge bc=1 zi=1", "S tau=0.9 wd=0.01 decoupled=1"],
    ["torch-defaults", "all: torch AdamW(β2 = 0) vs torch SGD", "A eps=small bc=1 zi=1", "S tau=0 wd=0.01 decoupled=0"],
]

# Least squares, k = 64 coordinates (16 × 4 with the bias row), κ = 100, fresh batches of 32,
# zero init (so θ₀ = 0 for every run and the trajectory gap is ‖θ_A − θ_S‖/‖θ_S‖).
[[problems]]
name = "linear_regression"
d = 15
D = 4
condition_number = 100.0
batch_size = 32
reduction = "mean"
noise = 0.1
init_std = 0.0

# Adam with β2 = 0 (the notepad's "SGD with momentum"), decoupled decay ηλ = 5e-4 throughout:
# torch's AdamW (lr 1e-3, ε = 1e-8, λ = 0.5); the same with SGD's first step and lr 0.05 (only the
# normalisation differs from the matched SGD); and without the normalisation (ε = 10²⁰,
# lr = 0.05·10²⁰, λ = 5e-4/lr) with each first-step variant (bias correction, zero init).
[[optimizers]]
name = "adamw"
lr = 1e-3
eps = 1e-8
betas = [0.9, 0.0]
weight_decay = 0.5

[[optimizers]]
name = "adamw"
lr = 0.05
eps = 1e-8
betas = [0.9, 0.0]
weight_decay = 0.01
bias_correction = false
zero_init = false

[[optimizers]]
name = "adamw"
lr = 5e18
eps = 1e20
betas = [0.9, 0.0]
weight_decay = 1e-22
bias_correction = [true, false]
zero_init = [true, false]

# SGD with momentum 0.9, lr 0.05, λ = 0.01 (ηλ = 5e-4): S0 torch's defaults (dampening 0, coupled
# decay g + λθ), S1 dampening 0.9, S2 dampening 0.9 and decoupled decay θ(1 − ηλ).
[[optimizers]]
name = "sgd"
lr = 0.05
momentum = 0.9
dampening = [0.0, 0.9]
weight_decay = 0.01
decoupled_decay = [false, true]

[quick]
steps = 30
seeds = [0, 1]
'''
SETTINGS = {"huge_eps": ..., "rounding_bound": ..., "beta2_matched": ..., "beta2_terms": ...}


def label_runs(final: pd.DataFrame, huge_eps: float) -> pd.DataFrame:
    """One row per run with the `variant` that names it: `A eps=huge|small bc=… zi=…` for Adam,
    `S tau=… wd=… decoupled=…` for SGD (the names `beta2_matched` and `beta2_terms` use)."""
    runs = final.set_index("run")
    flag = lambda column: column.astype(bool).astype(int).astype(str)  # noqa: E731
    number = lambda column: column.map("{:g}".format)  # noqa: E731
    adam = (np.where(np.isclose(runs["eps"], huge_eps), "A eps=huge", "A eps=small")
            + " bc=" + flag(runs["bias_correction"]) + " zi=" + flag(runs["zero_init"]))
    sgd = ("S tau=" + number(runs["dampening"]) + " wd=" + number(runs["weight_decay"])
           + " decoupled=" + flag(runs["decoupled_decay"]))
    return runs.assign(variant=np.where(runs["optimizer"] == "sgd", sgd, adam))


def analyze(tables, spec) -> Analysis:
    s = spec.settings
    final = checks.final_values(tables["metrics"], "excess_loss")
    runs = label_runs(final, float(s["huge_eps"]))
    gaps = lambda a, b: estimators.named_gap(tables["weights"], runs, a, b)  # noqa: E731
    steps, n_seeds = int(tables["metrics"]["step"].max()), final["seed"].nunique()
    gap_est = f"max over probe steps 1–{steps} of ‖θ_A,t − θ_S,t‖/‖θ_S,t‖ per seed (same batches, θ₀ = 0)"
    b2_check = checks.Check("C14", "C14-beta2-zero", "log10 trajectory gap Adam(β2 = 0) vs SGD-momentum",
                            f"{gap_est}; Adam β = (0.9, 0), ε = {float(s['huge_eps']):g} and lr = 0.05·ε, decoupled "
                            f"ηλ = 5e-4; SGD μ = τ = 0.9, lr 0.05, λ = 0.01; {n_seeds} seeds, float64",
                            "an identity (control): equal to rounding once every difference is removed, log10 of",
                            float(np.log10(float(s["rounding_bound"]))), kind="control")
    terms = checks.Check("C14", "C14-beta2-terms", "gap ratio matched pair / one term back", "per seed, the ratio of "
                         f"the matched pair's gap to the gap with one term back ({gap_est})", "003 lists dampening and "
                         "the decay coupling; each term alone makes them differ: ratio < 10⁻³", float(np.log(1e3)),
                         kind="seed")
    base, term_gaps = gaps(*s["beta2_matched"]), {name: gaps(a, b) for _, name, a, b in s["beta2_terms"]}
    outcomes = [checks.bound(b2_check, np.log10(base.clip(lower=1e-300)))]
    outcomes += checks.headline(terms, [checks.ordering(terms, base.loc[term_gaps[n].index], term_gaps[n], group=slug)
                                        for slug, n, _, _ in s["beta2_terms"]])
    rows = [{"part": "(c) β2 = 0", "difference put back": name,
             "gap (geo. mean)": estimators.geometric_mean(g.clip(lower=1e-300)), "gap max": g.max()}
            for name, g in {"none (matched)": base, **term_gaps}.items()]
    return Analysis(figures=[figure(term_gaps, base, float(s["rounding_bound"]))], table=pd.DataFrame(rows),
                    numbers={}, checks=outcomes, notes=NOTES)


NOTES = [
    "With β2 = 0, v̂_t = g_t², so Adam's step is η·m̂_t/(|g_t| + ε): momentum divided by the current gradient's "
    "magnitude, not SGD-momentum. 003 names dampening and the decay coupling; the normalisation and the first step "
    "(bias correction, zero init) differ too (C14-beta2-terms): 003's list is incomplete, and the corrected "
    "statement is that Adam(β2 = 0) equals SGD-momentum only with ε ≫ |g_t|, lr η·ε, dampening = β1, decoupled "
    "decay and SGD's first step (C14-beta2-zero, a control).",
]


def figure(term_gaps: dict, base: pd.Series, rounding_bound: float) -> Figure:
    """The gap per term put back, one point per seed, with the matched pair's and the rounding bound."""
    fig, axes = new_figure(1, width=4.4)
    ax = axes[0][0]
    plotting.log10_strip(ax, {"none (matched)": base, **term_gaps})
    ax.axvline(np.log10(rounding_bound), color="0.5", linestyle=":")
    ax.set(xlabel="log10 trajectory gap (one point per seed; −18 = identical)",
           title="(c) β2 = 0 Adam vs SGD: one term back")
    return Figure("notepad_beta2_zero", fig, "Gap between β2 = 0 Adam and SGD when one term differs (× = a diverged "
                  "run).")
