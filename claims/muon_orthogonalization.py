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
import math
from pathlib import Path

import numpy as np
import pandas as pd

from toylab import checks, plotting
from toylab.analyses import THEORY, Analysis, Figure, new_figure
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
BENCH_TABLE = Path(__file__).resolve().parents[1] / "reports/bench/orthogonalizers.csv"  # make bench writes it
KEYS = ["setting", "method"]


def label(frame: pd.DataFrame) -> pd.DataFrame:
    lr_setting = ("κ=" + frame["condition_number"].map("{:g}".format, na_action="ignore") + ", D="
                  + frame["D"].map("{:g}".format, na_action="ignore") + ", "
                  + np.where(frame["batch_size"] == 0, "full batch", "batch " + frame["batch_size"].map("{:g}".format)))
    svd = frame["orthogonalizer"] == "svd"
    return frame.assign(setting=np.where(frame["problem"] == "linear_regression", lr_setting, "scale-invariant, row norm"),
                        method=np.where(svd, "SVD", frame["orthogonalizer"].map(SHORT) + "-" + frame["ns_steps"].astype(str)),
                        steps=np.where(svd, np.nan, frame["ns_steps"]))


def shape_of(row) -> str:
    return f"{int(row['d']) + 1}×{int(row['D'])}" if row["problem"] == "linear_regression" else f"{int(row['d_out'])}×{int(row['d_in'])}"


def bench_seconds(at_best: pd.DataFrame, path) -> tuple[list[float], str]:
    """Seconds per call of each run's method at its matrix shape, from the bench's table (NaN where
    the table or the shape is missing), and the batch size K the bench timed those shapes at."""
    rows = pd.read_csv(path, dtype={"steps": str}).to_dict("records") if path.exists() else []
    for r in rows:
        r["K"], r["shape"] = r["K×m×n"].split("×", 1)
    seconds = {(r["shape"], r["orthogonalizer"], r["steps"]): r["ms"] / 1e3 for r in rows}
    keys = [(shape_of(r), r["orthogonalizer"], "-" if r["orthogonalizer"] == "svd" else str(int(r["ns_steps"])))
            for _, r in at_best.iterrows()]
    batch = sorted({r["K"] for r in rows if r["shape"] in {k[0] for k in keys}}, key=int)
    return [seconds.get(k, math.nan) for k in keys], "/".join(batch) or "?"


def analyze(tables, spec) -> Analysis:
    metrics = label(tables["metrics"])
    final = pd.concat([checks.final_values(metrics[metrics["problem"] == p], m) for p, m in METRIC.items()
                       if (metrics["problem"] == p).any()], ignore_index=True)
    best = checks.best_points(final, "lr", KEYS).set_index(KEYS)
    at = final.join(best["best"], on=KEYS).query("lr == best")
    orth = tables.get("orthogonality", pd.DataFrame())
    error = orth[orth["quantity"] == "polar_error"].groupby("run")["value"].median() if len(orth) else pd.Series(dtype=float)
    at = at.assign(polar_error=at["run"].map(error))
    at["seconds"], batch = bench_seconds(at, BENCH_TABLE)
    margin, outcomes = spec.settings["margin"], []
    estimator = ("per seed the final metric at each method's best lr (cosine decay to 0; lr chosen by mean log final "
                 "metric over seeds), paired log ratio")
    for name, method in (("exactness", "SVD"), ("polar-express", "PE-5")):
        check = checks.Check("C13", f"C13-orth-{name}", f"final metric {method} / NS-5 (geometric mean ratio)", estimator,
                             f"{method} beats 5 Newton–Schulz steps in every setting: ratio below e^−{margin:g}", margin,
                             needs=checks.Needs(width=2), kind="hypothesis")  # wider than the tie band ±m: more seeds
        wide = at.pivot_table(index=["setting", "seed"], columns="method", values="value")
        outcomes += checks.headline(check, [checks.ordering(check, wide.loc[s, method], wide.loc[s, "NS-5"], group=s,
                                                            regime=checks.interior(best.loc[s], [method, "NS-5"]))
                                            for s in wide.index.unique("setting")])
    time_col = f"orthogonalizer µs per step (K={batch})"
    g = at.assign(log=np.log(at["value"]), us=1e6 * at["seconds"]).groupby(["setting", "method", "orthogonalizer", "steps"], dropna=False)
    table = g.agg(lr=("lr", "first"), final=("log", "mean"), polar=("polar_error", "median"), us=("us", "first")).reset_index()
    table = table.join(best["at_edge"], on=KEYS).assign(final=np.exp(table["final"])).rename(columns={
        "lr": "best lr", "at_edge": "best lr at grid edge", "final": "final metric (geo. mean)",
        "polar": "polar error (median over steps)", "us": time_col})
    settings = sorted(table["setting"].unique())
    figures, notes = [steps_figure(at, settings)], []
    if at["seconds"].notna().any():
        figures.append(cost_figure(table, time_col))
    else:
        notes.append("*No orthogonalizer timings: `make bench` writes them to reports/bench/orthogonalizers.csv.*")
    numbers = {}
    if len(orth):
        fig, numbers = spectra_figure(label(orth[orth["run"].isin(at["run"])]), settings)
        figures.append(fig)
    else:
        notes.append("*The orthogonality probe table is missing: no errors or spectra.*")
    notes.append("003 ch. 7 asks how NewtonSchulz_n(G_t), an approximation of the orthogonalization, treats the "
                 "spectrum; the spectra figure measures it (the quintic leaves singular values in about (0.7, 1.2) and "
                 "small ones below). Whether a more exact polar factor trains better is the lab's question.")
    return Analysis(figures=figures, table=table, numbers=numbers, notes=notes, checks=outcomes)


# ----- figures --------------------------------------------------------------------------------------
def _panels(n: int):
    return new_figure(min(3, n), math.ceil(n / min(3, n)), width=3.8, height=3.2)


def steps_figure(at: pd.DataFrame, settings: list[str]) -> Figure:
    fig, axes = _panels(len(settings))
    for ax, setting in zip(axes.flat, settings):
        here = at[at["setting"] == setting]
        for orth, g in here.groupby("orthogonalizer"):
            if orth == "svd":
                mean, low, high = (math.exp(v) for v in checks.t_interval(np.log(g["value"])))
                ax.axhline(mean, color=COLOURS[orth], label="SVD (exact)")
                ax.axhspan(low, high, color=COLOURS[orth], alpha=0.15, linewidth=0)
            else:
                plotting.seed_band(ax, g, "steps", "value", log=True, label=SHORT[orth], color=COLOURS[orth], marker="o")
        ax.set(yscale="log", xlabel="iterations", ylabel="final metric at best lr", title=setting)
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    plotting.legend(axes.flat[0], fontsize="x-small")
    return Figure("steps", fig, "Final metric at each method's best lr against the number of iterations (geometric "
                  "mean over seeds, band ×/÷ 2 s.e.); the SVD's exact polar factor as a line and its 95 % t-interval. "
                  "Excess loss for linear regression, the noise-free loss for the scale-invariant problem.")


def cost_figure(table: pd.DataFrame, time_col: str) -> Figure:
    fig, axes = new_figure(1, 1, width=4.6, height=3.4)
    ax = axes[0, 0]
    per = table.groupby(["orthogonalizer", "method"], as_index=False)[[time_col, "polar error (median over steps)"]].median()
    for orth, g in per.groupby("orthogonalizer"):
        ax.scatter(g[time_col], g["polar error (median over steps)"], color=COLOURS[orth], label=SHORT[orth], s=18)
        for _, row in g.iterrows():
            ax.annotate(row["method"], (row[time_col], row["polar error (median over steps)"]), fontsize=6,
                        textcoords="offset points", xytext=(3, 2))
    ax.set(xscale="log", yscale="log", xlabel=time_col.replace("orthogonalizer ", "") + " (make bench)",
           ylabel="‖O − UVᵀ‖_F / ‖UVᵀ‖_F")
    ax.legend(fontsize="x-small")
    return Figure("cost", fig, "Cost against exactness: each method's time per step (median over the settings' shapes, "
                  "from `make bench`'s table reports/bench/orthogonalizers.csv) and its orthogonalization error "
                  "(median over settings).")


def spectra_figure(orth: pd.DataFrame, settings: list[str]) -> tuple[Figure, dict]:
    """σ_i(O) against σ_i(U)/‖U‖_F for NS-5, PE-5 and SVD at the best lr, with the scalar maps."""
    shown = {"NS-5": "newton_schulz", "PE-5": "polar_express", "SVD": "svd"}
    # seed before run: points are drawn in seed order, not in the order of the runs' hashes
    wide = orth[orth["method"].isin(shown) & orth["quantity"].isin(["input_spectrum", "output_spectrum"])].pivot_table(
        index=["setting", "method", "seed", "run", "step", "index"], columns="quantity", values="value").reset_index()
    fig, axes = _panels(len(settings))
    x = np.geomspace(1e-4, 1, 300)
    for ax, setting in zip(axes.flat, settings):
        for method, name in shown.items():
            pts = wide[(wide["setting"] == setting) & (wide["method"] == method)]
            ax.scatter(pts["input_spectrum"], pts["output_spectrum"], s=4, alpha=0.4, color=COLOURS[name], linewidth=0,
                       label=method)
            ax.plot(x, singular_value_map(x, name, 5), **{**THEORY, "color": COLOURS[name]})
        ax.set(xscale="log", xlabel="input σ_i(U)/‖U‖_F", ylabel="output σ_i(O)", title=setting, ylim=(0, 1.4))
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="x-small", markerscale=3)
    numbers = {f"output σ 5–95 % range, {m}": "[{:.2f}, {:.2f}]".format(*np.nanpercentile(
        wide[wide["method"] == m]["output_spectrum"], [5, 95])) for m in ("NS-5", "PE-5")}
    numbers["share of input σ_i(U) < 10⁻³·‖U‖_F"] = f"{100 * float((wide[wide['method'] == 'NS-5']['input_spectrum'] < 1e-3).mean()):.2g} %"
    return Figure("spectra", fig, "What each orthogonalizer does to the spectrum of Muon's momentum at the best lr, every "
                  "probed step and seed: output singular values against the input's (Frobenius-normalised, ranks "
                  "matched); dashed: the scalar map of 5 iterations of each polynomial (for the SVD, 1)."), numbers
