"""C13 (003 ch. 7, docs/claims.md): how exact must Muon's polar factor be? Newton–Schulz, Polar Express, SVD.

Per setting (problem and its options) and method (orthogonalizer × iterations; `NS-5` the default
quintic with 5 steps, `PE-5` Polar Express with 5, `SVD` the exact UVᵀ): each run's final metric
(excess loss for linear regression, the noise-free loss for the scale-invariant problem;
`checks.final_values`) at the method's best lr (`checks.best_points`); the orthogonalization error
‖O − UVᵀ‖_F/‖UVᵀ‖_F per run (median over probed steps, `orthogonality` probe); the time per step
from the bench's stored table (`reports/bench/orthogonalizers.csv`, written by `make bench`:
float32, all methods interleaved) at the setting's matrix shape, so a re-render changes no byte;
the spectra σ_i(O) against σ_i(U)/‖U‖_F with each polynomial's scalar map (dashed).

Checks (the lab's hypotheses; 003 asks only how NS treats the spectrum): `C13-orth-exactness`, SVD
beats NS-5, and `C13-orth-polar-express`, PE-5 beats NS-5, each by the margin, paired over seeds
per setting, in every setting (`combine="all"`); equal within the margin is a tie, and an
interval wider than the tie band asks for more seeds.
"""
import numpy as np
import pandas as pd

from toylab import checks, estimators, plotting
from toylab.analyses import Analysis, Figure, new_figure, new_panels, regression_setting, weight_shape
from toylab.bench.orthogonalizers import stored_seconds
from toylab.optim.orthogonalize import singular_value_map

SPEC = '''
title = "How exact must Muon's orthogonalization be? Newton–Schulz, Polar Express and the SVD"
claim = "C13"
question = """Muon steps along an approximation O of the polar factor UVᵀ of its momentum. The \
quintic Newton–Schulz iteration leaves singular values spread over about (0.7, 1.2) and small ones \
below; Polar Express (Amsel et al. 2025) picks minimax coefficients per iteration and converges; \
the SVD gives UVᵀ exactly. On multi-output linear regression (κ = 1 and 100, D = 4 and 16, \
mini-batch and full batch) and on a scale-invariant teacher–student problem, with each \
orthogonalizer and 1–8 iterations at its best learning rate (cosine decay to 0): does a more exact polar factor help, \
hurt, or not matter, what does it cost per step, and what do the spectra say about why?"""
steps = 200
seeds = [0, 1, 2, 3]
budget = { seeds = 4 }   # a tie band narrower than the seeds' noise asks for up to 16 seeds
metric_every = 20
probes = ["orthogonality"]
probe_every = 40
margin = 0.1   # log-ratio margin of the orderings: a ≥ 10 % difference in the final metric

[[problems]]  # the settings of reports/muon_linear_regression, full batch: no gradient noise
name = "linear_regression"
d = 16
D = [4, 16]
condition_number = [1.0, 100.0]
n_train = 256
batch_size = 0
reduction = "mean"
noise = 0.1

[[problems]]  # and one with mini-batch noise
name = "linear_regression"
d = 16
D = 16
condition_number = 100.0
n_train = 256
batch_size = 32
reduction = "mean"
noise = 0.1

[[problems]]
name = "scale_invariant"
d_in = 32
d_out = 16
norm = "row"
batch_size = 32
noise = 0.1
eval_size = 1024

[[optimizers]]  # nesterov off: the orthogonalizer's input is the momentum buffer
name = "muon"
orthogonalizer = "newton_schulz"
ns_steps = [1, 3, 5, 8]
schedules = {lr = "cosine"}
lr = [1e-2, 3e-2, 1e-1, 3e-1, 1.0]
momentum = 0.95
nesterov = false
weight_decay = 0.0

[[optimizers]]
name = "muon"
orthogonalizer = "polar_express"
ns_steps = [1, 3, 5, 8]
schedules = {lr = "cosine"}
lr = [1e-2, 3e-2, 1e-1, 3e-1, 1.0]
momentum = 0.95
nesterov = false
weight_decay = 0.0

[[optimizers]]
name = "muon"
orthogonalizer = "svd"
schedules = {lr = "cosine"}
lr = [1e-2, 3e-2, 1e-1, 3e-1, 1.0]
momentum = 0.95
nesterov = false
weight_decay = 0.0

[quick]  # one setting per problem, NS-5, PE-5 and SVD, two learning rates
steps = 20
seeds = [0, 1]
metric_every = 5
probe_every = 5

[[quick.problems]]
name = "linear_regression"
d = 16
D = 4
condition_number = 100.0
n_train = 256
batch_size = 0
reduction = "mean"

[[quick.problems]]
name = "scale_invariant"
eval_size = 256

[[quick.optimizers]]
name = "muon"
orthogonalizer = ["newton_schulz", "polar_express", "svd"]
lr = [0.03, 0.1]
nesterov = false
weight_decay = 0.0
'''
SETTINGS = {"margin": 0.1}
METRIC = {"linear_regression": "excess_loss", "scale_invariant": "loss"}
COLOURS = plotting.palette(["newton_schulz", "polar_express", "svd"])  # fixed per name in every figure
SHORT = {"newton_schulz": "NS", "polar_express": "PE", "svd": "SVD"}
KEYS = ["setting", "method"]


def label(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row the setting, the weight matrix's shape m×n, the method (`NS-5`, `SVD`) and its iterations."""
    svd, lin = frame["orthogonalizer"] == "svd", frame["problem"] == "linear_regression"
    return frame.assign(setting=np.where(lin, regression_setting(frame), "scale-invariant, row norm"),
                        shape=weight_shape(frame), family=frame["orthogonalizer"].map(SHORT),  # NS, PE, SVD
                        method=lambda f: (f["family"] + "-" + f["ns_steps"].astype(str)).where(~svd, "SVD"),
                        steps=frame["ns_steps"].where(~svd))


def analyze(tables, spec) -> Analysis:
    metrics = label(tables["metrics"])
    final = checks.final_values_per(metrics, METRIC)
    best, at = checks.at_best(final, "lr", KEYS)
    orth = tables["orthogonality"]  # the spec probes it
    at = at.assign(polar_error=at["run"].map(estimators.run_median(orth, "polar_error")))
    at["seconds"], batch = stored_seconds(zip(at["shape"], at["orthogonalizer"], at["steps"]))
    margin, outcomes = spec.settings["margin"], []
    for name, method in (("exactness", "SVD"), ("polar-express", "PE-5")):
        check = checks.Check("C13", f"C13-orth-{name}", f"final metric {method} / NS-5 (geometric mean ratio)",
                             "per seed the final metric at each method's best lr (cosine decay to 0; lr chosen by mean "
                             "log final metric over seeds), paired log ratio",
                             f"{method} beats 5 Newton–Schulz steps in every setting: ratio below e^−{margin:g}",
                             margin, needs=checks.Needs(width=2), kind="hypothesis")  # wider than ±m: more seeds
        outcomes += checks.headline(check, checks.orderings_at_best(check, final, method, "NS-5", "setting", "method"))
    time_col = f"orthogonalizer µs per step (K={batch})"
    table = at.assign(log=np.log(at["value"]), us=1e6 * at["seconds"]).groupby(
        [*KEYS, "orthogonalizer", "steps"], dropna=False).agg(**{
            "best lr": ("lr", "first"), "final metric (geo. mean)": ("log", "mean"),  # exp below: a geometric mean
            "polar error (median over steps)": ("polar_error", "median"), time_col: ("us", "first")}).reset_index()
    table = table.join(best["at_edge"].rename("best lr at grid edge"), on=KEYS)
    table["final metric (geo. mean)"] = np.exp(table["final metric (geo. mean)"])
    spectra, numbers = spectra_figure(label(orth[orth["run"].isin(at["run"])]))
    timed = at["seconds"].notna().any()
    figures = [steps_figure(at), *([cost_figure(table, time_col)] if timed else []), spectra]
    notes = [] if timed else ["*No orthogonalizer timings: `make bench` writes reports/bench/orthogonalizers.csv.*"]
    return Analysis(figures=figures, table=table, numbers=numbers, notes=notes + NOTES, checks=outcomes)


NOTES = ["003 ch. 7 asks how NewtonSchulz_n(G_t), an approximation of the orthogonalization, treats the "
         "spectrum; the spectra figure measures it (the quintic leaves singular values in about (0.7, 1.2) and "
         "small ones below). Whether a more exact polar factor trains better is the lab's question."]


def steps_figure(at: pd.DataFrame) -> Figure:
    fig, axes = new_panels(at["setting"].nunique())
    plotting.panel_bands(axes, at[at["orthogonalizer"] != "svd"], "setting", "steps", "value", hue="family", log=True,
                         marker="o", xlabel="iterations", ylabel="final metric at best lr",
                         reference=(at[at["orthogonalizer"] == "svd"], "SVD (exact)", COLOURS["svd"]))
    return Figure("steps", fig, "Final metric at each method's best lr against the number of iterations (geometric "
                  "mean over seeds, band ×/÷ 2 s.e.); the SVD's exact polar factor as a line and its 95 % t-interval. "
                  "Excess loss for linear regression, the noise-free loss for the scale-invariant problem.")


def cost_figure(table: pd.DataFrame, time_col: str) -> Figure:
    fig, axes = new_figure(1, 1, width=4.6, height=3.4)
    error = "polar error (median over steps)"
    per = table.groupby(["orthogonalizer", "method"], as_index=False)[[time_col, error]].median()
    plotting.labelled_scatter(axes[0, 0], per, time_col, error, "orthogonalizer", "method", COLOURS, SHORT, log=True,
                              s=18)
    axes[0, 0].set(xlabel=time_col.replace("orthogonalizer ", "") + " (make bench)", ylabel="‖O − UVᵀ‖_F / ‖UVᵀ‖_F")
    return Figure("cost", fig, "Cost against exactness: each method's time per step (median over the settings' shapes, "
                  "from `make bench`'s table reports/bench/orthogonalizers.csv) and its orthogonalization error "
                  "(median over settings).")


def spectra_figure(orth: pd.DataFrame) -> tuple[Figure, dict]:
    """σ_i(O) against σ_i(U)/‖U‖_F for NS-5, PE-5 and SVD at the best lr, with the scalar maps."""
    shown = {"NS-5": "newton_schulz", "PE-5": "polar_express", "SVD": "svd"}
    # seed before run: points are drawn in seed order, not in the order of the runs' hashes
    wide = estimators.paired_spectra(orth[orth["method"].isin(shown)], "input_spectrum", "output_spectrum",
                                     ["setting", "method", "seed"])
    fig, axes = new_panels(wide["setting"].nunique())
    plotting.scalar_map_panels(axes, wide, "setting", "method", {m: COLOURS[n] for m, n in shown.items()},
                               lambda m, x: singular_value_map(x, shown[m], 5), "input σ_i(U)/‖U‖_F", "output σ_i(O)",
                               ylim=(0, 1.4), s=4, alpha=0.4, linewidth=0)
    numbers = {f"output σ 5–95 % range, {m}": "[{:.2f}, {:.2f}]".format(*np.nanpercentile(
        wide[wide["method"] == m]["output"], [5, 95])) for m in ("NS-5", "PE-5")}
    ns = wide[wide["method"] == "NS-5"]
    numbers["share of input σ_i(U) < 10⁻³·‖U‖_F"] = f"{100 * float((ns['input'] < 1e-3).mean()):.2g} %"
    caption = ("What each orthogonalizer does to the spectrum of Muon's momentum at the best lr, every probed step "
               "and seed: output singular values against the input's (Frobenius-normalised, ranks matched); dashed: "
               "the scalar map of 5 iterations of each polynomial (for the SVD, 1).")
    return Figure("spectra", fig, caption), numbers
