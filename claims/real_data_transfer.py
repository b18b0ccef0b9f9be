"""C13 and C11 on real data: do the synthetic findings carry over to scikit-learn's digits and diabetes?

Per problem, each run's value is the training objective at the last step (`loss` on digits, the
excess loss over the closed-form optimum on diabetes; `checks.final_values`); each optimizer or
variant is taken at its best lr (`checks.best_points`), compared per seed (paired orderings):

    C13-real-adamw   AdamW < Muon at their best lrs (synthetic: AdamW ahead in every setting)
    C11-real-init    003's "initialisation matters more than bias correction": the worse zero-init
                     variant (by seed-mean) below the better non-zero-init one
    C11-real-order   003's ranking ZI+BC < ZI no BC < no ZI no BC < no ZI + BC, three orderings

a control of what Newton–Schulz is built to do, per matrix, Muon at its best lr:

    C13-real-flat    σ_max/σ_min of O_t = NS(M_t) below that of G_t by 2× (median over probed
                     steps per seed), over the top r singular values, r = the numerical rank of
                     G_t (σ > 10⁻⁶·σ_max): a softmax layer's gradient has a structural null
                     direction (its class rows sum to 0), which NS maps to amplified rounding

and the lab's hypothesis that σ_max(O_t) keeps its scale while σ_max(G_t) shrinks:

    C13-real-unit    σ_max(O_t) at the last probed step / at the first = 1 ± 25 % (the half-width of
                     NS-5's output band (0.68, 1.13) about its centre; ±50 % hardly could fail)

A best lr at the edge of its grid makes a comparison inconclusive (`checks.interior`).
"""
import numpy as np
import pandas as pd

from toylab import checks, estimators, plotting
from toylab.analyses import Analysis, Figure, best_table, new_panels

SPEC = '''
title = "From toys to real data: Muon vs AdamW vs SGD vs Signum, and bias correction × zero init, on digits and diabetes"
claim = "C13, C11"
question = """The synthetic reports found, on least squares, that Muon at its best constant lr ends \
behind AdamW (docs/claims.md C13; reports/muon_linear_regression), that Newton–Schulz flattens the \
spectrum of the gradient (σ_max/σ_min of its output far below that of G_t) and keeps σ_max of its \
output near 1 while G_t shrinks, and asked whether zero initialisation of Adam's moments matters \
more than bias correction (C11; reports/bias_correction_zero_init). Do these carry over to real \
data — scikit-learn's digits (softmax regression and a tanh MLP whose two matrices Muon takes) and \
diabetes (least squares) — with a held-out split, epochs and standardised features?"""
steps = 200
seeds = [0, 1, 2]
metric_every = 10
probes = ["spectra"]
probe_every = 40

[[problems]]  # 1347 training images, 21 batches per epoch
name = "digits_softmax"
batch_size = 64

[[problems]]
name = "digits_mlp"
hidden = 32
batch_size = 64

[[problems]]  # 332 training patients, 10 batches per epoch
name = "diabetes"
batch_size = 32

[[optimizers]]  # nesterov off: the NS input is the momentum buffer, as in the synthetic report
name = "muon"
lr = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]
momentum = 0.95
nesterov = false
weight_decay = 0.0
adamw_lr = 1e-2

[[optimizers]]
name = "adamw"
lr = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]
weight_decay = 0.0

[[optimizers]]
name = "sgd"
lr = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
momentum = 0.9

[[optimizers]]  # Signum
name = "signsgd"
lr = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
momentum = 0.9

[[optimizers]]  # C11: the notepad's settings, the four variants
name = "adamw"
betas = [0.95, 0.95]
weight_decay = 0.1
bias_correction = [true, false]
zero_init = [true, false]
lr = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # 1e-3: diabetes' "no ZI, BC" was best at 3e-3, the edge

[quick]
steps = 20
seeds = [0, 1]
metric_every = 5
probe_every = 10
'''
METRIC = {"digits_softmax": "loss", "digits_mlp": "loss", "diabetes": "excess_loss"}
VARIANTS = {(True, True): "ZI+BC", (True, False): "ZI, no BC", (False, False): "no ZI, no BC",
            (False, True): "no ZI, BC"}  # (zero_init, bias_correction), in the notepad's order
C13, C11 = ["adamw", "muon", "sgd", "signum"], list(VARIANTS.values())
RANK = 1e-6  # singular values below RANK·σ_max count as zero (float32 runs)
EST = "last step's objective per seed at each one's best lr, paired"
ADAMW_VS_MUON = checks.Check("C13", "C13-real-adamw", "final training loss, AdamW / Muon at their best lrs", EST,
                             "AdamW < Muon (the synthetic finding)", 0.0, kind="hypothesis")
INIT = checks.Check("C11", "C11-real-init", "final loss, worse zero-init variant / better non-zero-init variant", EST,
                    "zero init matters more than bias correction, 003 ch. 6, Table 6.1", 0.0, kind="seed")
ORDER = checks.Check("C11", "C11-real-order", "final loss ratios of consecutive variants in the notepad's ranking", EST,
                     "ZI+BC < ZI no BC < no ZI no BC < no ZI + BC, 003 ch. 6, Table 6.1", 0.0, kind="seed")
FLAT = checks.Check("C13", "C13-real-flat", "σ_max/σ_min of O_t over that of G_t (Muon, best lr)",
                    "median over the probed steps of each seed's σ_1/σ_r, r = numerical rank of G_t, paired",
                    "NS output flatter than G_t by > 2× (control: what NS is built to do, mapping every singular value "
                    "above ≈10⁻³·‖M‖_F into NS-5's band (0.68, 1.13))", float(np.log(2)), kind="control")
UNIT = checks.Check("C13", "C13-real-unit", "σ_max(O_t) last / first probed step (Muon, best lr)", "each seed's ratio",
                    "stays at 1 within ±25 %, the half-width of NS-5's output band (0.68, 1.13) about its centre: "
                    "σ_max(O_t) keeps its place in the band (±50 % would only say it stays in it)", 0.25,
                    kind="hypothesis")


def label(frame: pd.DataFrame) -> pd.Series:
    """`muon`, `adamw`, `sgd`, `signum` for the C13 runs; the C11 variant name for the others."""
    variant = [VARIANTS.get((bool(z), bool(b)), "") for z, b in zip(frame["zero_init"], frame["bias_correction"])]
    return frame["optimizer"].replace({"signsgd": "signum"}).where(frame["betas"].astype(str) != "0.95,0.95", variant)


def analyze(tables, spec) -> Analysis:
    metrics = tables["metrics"].assign(name=lambda f: label(f))
    final = checks.final_values_per(metrics, METRIC)
    best, at = checks.at_best(final, "lr", ["problem", "name"])
    means = at.pivot_table(index=["problem", "seed"], columns="name", values="value").groupby("problem").mean()
    groups, numbers = {c: [] for c in (ADAMW_VS_MUON, INIT, ORDER, FLAT, UNIT)}, {}
    for p in final["problem"].unique():
        pairs = [(ADAMW_VS_MUON, "adamw", "muon", p)] + [(ORDER, x, y, f"{p}: {x} < {y}") for x, y in zip(C11, C11[1:])]
        pairs.append((INIT, max(C11[:2], key=means.loc[p].get), min(C11[2:], key=means.loc[p].get), p))
        for check, x, y, group in pairs:
            groups[check].append(checks.ordering_at_best(check, final[final["problem"] == p], x, y, group=group))
        numbers[f"C11 ranking at best lr, {p}"] = " < ".join(means.loc[p, C11].sort_values().index)
    table = best_table(at, best, ["problem", "name"], "final value at best lr (mean ± std)")
    figures = [bands("lr_grid", final[final["name"].isin(C13)], "lr", best, "Final training objective against "
                     "the lr per optimizer (geometric mean over seeds, band ×/÷ 2 s.e. in log space; star: the best "
                     "lr; ×: diverged runs)."),
               bands("curves", metrics[metrics["run"].isin(at.loc[at["name"].isin(C13), "run"]) & (metrics["step"] > 0)
                                       & (metrics["metric"] == metrics["problem"].map(METRIC))], "step", None,
                     "The training objective over training at each optimizer's best lr (geometric mean over seeds, "
                     "band ×/÷ 2 s.e. in log space)."),
               bands("c11_lr_grid", final[final["name"].isin(C11)], "lr", best, "C11: the four bias-correction "
                     "× zero-init variants of AdamW (β = (0.95, 0.95), λ = 0.1), final training objective against the "
                     "lr (bands as above).")]
    spectra, notes = tables.get("spectra"), []
    if spectra is not None and not spectra.empty:
        muon = spectra[spectra["run"].isin(at.loc[at["name"] == "muon", "run"])
                       & spectra["quantity"].isin(["grad", "direction"])]
        ext = estimators.singular_extremes(estimators.numerical_rank(muon, RANK), ["problem", "param", "seed"])
        per_seed = estimators.spread_and_growth(ext, ["problem", "param"])
        groups[FLAT] = checks.orderings(FLAT, per_seed["spread"], "direction", "grad", ["problem", "param"])
        groups[UNIT] = checks.equivalences(UNIT, per_seed["growth"], "direction", 1.0, ["problem", "param"])
        for (p, param), m in per_seed.groupby(["problem", "param"]).mean().iterrows():
            for name, stat in (("σ_max last/first", "growth"), ("median σ_1/σ_r", "spread")):
                numbers[f"{name}, G_t / O_t, {p} {param}"] = f"{m[stat, 'grad']:.3g} / {m[stat, 'direction']:.3g}"
        fig, axes = new_panels(ext.groupby(["problem", "param"]).ngroups, ncols=4, width=3.6, height=3.0)
        plotting.extreme_bands(axes, ext, ["problem", "param"], {"grad": "G_t", "direction": "O_t"},
                               target_label="1 (orthogonal)", ylabel="value")
        figures.append(Figure("spectra", fig, "Muon at its best lr: largest and r-th singular values (r: the "
                              "numerical rank of G_t) of the gradient G_t and of the Newton–Schulz output O_t per "
                              "matrix (geometric mean over seeds, band ×/÷ 2 s.e.); dashed: 1."))
    else:
        notes.append("*The spectra probe table is missing: no spectra checks.*")
    outcomes = [o for check, g in groups.items() for o in checks.headline(check, g)]
    return Analysis(figures=figures, table=table, numbers=numbers, notes=notes + NOTES, checks=outcomes)


NOTES = ["Seed 003 ch. 6's first-step case analysis (m̂₁ ∈ {g₁, (1−β1)g₁, g₁/(1−β1)}) holds (C11-first-step "
         "measures it); its Table 6.1 ranking is what C11-real-order and C11-real-init test here."]


def bands(stem: str, frame: pd.DataFrame, x: str, best, caption: str) -> Figure:
    """One panel per problem, seed bands per optimizer on log axes; over the lr grid, with markers, best lrs starred."""
    fig, axes = new_panels(frame["problem"].nunique(), ncols=4)
    grid = dict(xlabel="learning rate η", ylabel="final objective", marker="o", xscale="log") if x == "lr" else {}
    plotting.panel_bands(axes, frame, "problem", x, "value", "name", best, log=True, **grid)
    return Figure(stem, fig, caption)
