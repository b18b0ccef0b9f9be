"""C10 (004 Theorem 1, docs/claims.md): on a scale-invariant loss, AdamW runs with (η, λ, σ_init, ε)
and (η/c, cλ, σ_init/c, cε) from the same seed satisfy w'_t = w_t/c at every step.

The spec lists σ_init = σ₀/c among the problem options and one optimizer table per c with
(η₀/c, cλ₀, cε₀); each run is paired with the c = 1 run of its problem and seed (the `reference`
η₀, σ₀, with c = η₀/η = σ₀/σ_init) and, from the `weights` probe, measured by

    max_t ‖w'_t − w_t/c‖ / ‖w_t/c‖    (one value per seed; one group per c).

Pairs whose c differ in the optimizer and in the initialisation are left out: they are not the
theorem's rescaling. `C10-invariance` bounds the deviation by `tolerance` (rounding level) on the
scale-invariant problem; `C10-linreg` is a control: the same bound on linear regression, which is
not scale-invariant, where the theorem does not apply and the check is meant to fail.
"""
import numpy as np
import pandas as pd

from toylab import checks, plotting
from toylab.analyses import Analysis, Figure, new_figure

SPEC = """
title = "Theorem 1: scale invariance of the whole AdamW trajectory"
claim = "C10"
question = "On a scale-invariant loss, does the run with (η/c, cλ, σ_init/c, cε) equal the run with (η, λ, σ_init, ε) divided by c at every step, and (a control) does that fail on linear regression?"
steps = 150
seeds = [0, 1, 2, 3]
metric_every = 50
probes = ["weights"]
probe_every = 5
dtype = "float64"
reference = { lr = 0.03, init_std = 1.0 }   # the c = 1 run

# sigma_init = sigma_0 / c for c in 1, 3, 1000 (the product with the optimizer tables is
# cheap: init_std splits batches, the optimizer tables share one; the analysis keeps the pairs).
[[problems]]
name = "scale_invariant"
d_in = 16
d_out = 8
init_std = [1.0, 0.3333333333333333, 0.001]

[[problems]]
name = "linear_regression"
d = 8
D = 2
init_std = [1.0, 0.3333333333333333, 0.001]

[[optimizers]]   # c = 1
name = "adamw"
betas = [0.9, 0.99]
lr = 0.03
weight_decay = 0.1
eps = 1e-6

[[optimizers]]   # c = 3
name = "adamw"
betas = [0.9, 0.99]
lr = 0.01
weight_decay = 0.30000000000000004
eps = 3e-6

[[optimizers]]   # c = 1000
name = "adamw"
betas = [0.9, 0.99]
lr = 3e-5
weight_decay = 100.0
eps = 1e-3

[quick]
steps = 20
seeds = [0, 1]
"""
# tolerance: the bound on the relative deviation (float64 rounding accumulates to ~1e-15 over 150
# steps); reference: the c = 1 run's {lr, init_std}
SETTINGS = {"tolerance": 1e-10, "reference": ...}
COLUMN = "max_t ‖w'_t − w_t/c‖/‖w_t/c‖"
CHECKS = {"scale_invariant": ("C10-invariance", "seed", "w'_t = w_t/c on a scale-invariant loss, 004 Theorem 1 "
                              "(eqs. 24–27)"),
          "linear_regression": ("C10-linreg", "control", "control, meant to fail: linear regression is not "
                                "scale-invariant, so Theorem 1 does not apply")}


def deviations(w: pd.DataFrame, reference: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per rescaled run: its c and the relative deviation ‖w'_t − w_t/c‖/‖w_t/c‖ from its c = 1 run,
    maximised over t (table) and per step (curves)."""
    runs = w.drop_duplicates("run")
    base = runs[np.isclose(runs["lr"], reference["lr"]) & np.isclose(runs["init_std"], reference["init_std"])]
    rows, curves = [], []
    for r in runs.itertuples():
        orig = base[(base["problem"] == r.problem) & (base["seed"] == r.seed)].iloc[0]
        c = orig["lr"] / r.lr
        if not np.isclose(orig["init_std"] / r.init_std, c, rtol=1e-9):
            continue
        a = w[w["run"] == orig["run"]].sort_values(["step", "param", "index"])
        b = w[w["run"] == r.run].sort_values(["step", "param", "index"])
        sq = pd.DataFrame({"step": a["step"].to_numpy(), "diff": (b["value"].to_numpy() - a["value"].to_numpy() / c) ** 2,
                           "norm": (a["value"].to_numpy() / c) ** 2}).groupby("step").sum()
        err = np.sqrt(sq["diff"] / sq["norm"])
        rows.append({"problem": r.problem, "c": c, "seed": r.seed, "lr": r.lr, "weight_decay": r.weight_decay,
                     "eps": r.eps, "init_std": r.init_std, COLUMN: err.max()})
        curves.append(pd.DataFrame({"problem": r.problem, "c": f"{c:g}", "step": err.index, "error": err.to_numpy()}))
    table = pd.DataFrame(rows).sort_values(["problem", "c", "seed"]).reset_index(drop=True)
    return table, pd.concat(curves)


def analyze(tables, spec) -> Analysis:
    tol, dtype = spec.settings["tolerance"], spec.run.get("dtype", "float32")
    table, curves = deviations(tables["weights"], spec.settings["reference"])
    rescaled, curves = table[~np.isclose(table["c"], 1.0)], curves[curves["c"] != "1"]
    steps = int(tables["weights"]["step"].max())
    outcomes, numbers = [], {}
    for problem, (cid, kind, prediction) in CHECKS.items():
        sub = rescaled[rescaled["problem"] == problem]
        check = checks.Check("C10", cid, COLUMN, f"per seed, the largest relative deviation over steps 0–{steps} ({dtype})",
                             f"{prediction}; bound", tol, kind=kind)
        outcomes += checks.headline(check, [checks.bound(check, g.sort_values("seed")[COLUMN], group=f"c={c:g}")
                                            for c, g in sub.groupby("c")])
        numbers[f"{problem}: max over c, t and {sub['seed'].nunique()} seeds"] = f"{sub[COLUMN].max():.3g}"

    fig, axes = new_figure(1, width=5.5)
    ax = axes[0, 0]
    colors = plotting.palette(curves["c"].unique())
    for (problem, c), g in curves.groupby(["problem", "c"]):
        worst = g.groupby("step")["error"].max()
        worst = worst[worst > 0]
        ax.plot(worst.index, worst.to_numpy(), linestyle="-" if problem == "scale_invariant" else "--",
                color=colors[c], label=f"{problem}, c = {c} (max over seeds)")
    plotting.theory_line(ax, tol, f"tolerance {tol:g} (rounding bound)")
    ax.set(yscale="log", xlabel="step t", ylabel="‖w'_t − w_t/c‖ / ‖w_t/c‖", title="AdamW, (η/c, cλ, σ_init/c, cε)")
    plotting.legend(ax, fontsize="x-small")
    notes = ["004's Theorem 1, re-derived: on a scale-invariant loss ∇L(w/c) = c∇L(w), so with w'_{t−1} = w_{t−1}/c "
             "the rescaled run sees g' = cg, m' = cm, v' = c²v and the same direction m̂'/(√v̂' + cε) = m̂/(√v̂ + ε); the "
             "step (1 − ηλ)w'_{t−1} − (η/c)·u = w_t/c closes the induction (004 eqs. 24–27, 36–37). It holds, as "
             "C10-invariance measures to rounding. One slip: 004 writes the update as + η m̂/(√v̂ + ε) (eqs. 26f, "
             "34–37); descent is − η m̂/(√v̂ + ε). Both runs share the sign, so the theorem is unaffected.",
             "C10-linreg is a control: linear regression is not scale-invariant (∇L(w/c) ≠ c∇L(w)), so the same "
             "bound is meant to fail there; its failure shows the check can fail."]
    return Analysis(
        figures=[Figure("deviation", fig, "Relative deviation of the rescaled run from the original divided by c, "
                        "largest over seeds: rounding level on the scale-invariant problem (steps where it is "
                        "exactly 0 are not drawn on the log axis), order one on linear regression.")],
        table=table, numbers=numbers, notes=notes, checks=outcomes)
