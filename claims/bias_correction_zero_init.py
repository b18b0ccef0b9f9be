"""C11 (docs/claims.md): AdamW's four variants, bias correction (BC) × zero initialisation (ZI).

Per problem and (β, λ) panel, each run's value is its loss averaged over the last 10 % of steps
(`checks.final_values`), and each variant is taken at its best lr (`checks.best_points`). Checks:
`C11-first-step`, the RMS of the first direction u₁ = m̂₁/(√v̂₁ + ε) (norms probe, step 1) against
the case analysis |m̂₁|/√v̂₁ (`theory.first_step_rms`), per variant and setting;
`C11-ordering`, the notepad's ranking ZI+BC < ZI no BC < no ZI no BC < no ZI + BC as three
adjacent orderings paired over seeds (same seed = same data and initial point); `C11-init`, "both
zero-init variants beat both others" (per seed, the worse ZI variant against the better non-ZI one).
The lr grid is √2 apart (1.25e-4 … 0.256), so every best lr lies inside it and a ×3 grid's
coarseness does not decide an ordering; a comparison is inconclusive when a compared variant's
best lr sits at an edge of the grid.
"""
import numpy as np
import pandas as pd

from toylab import checks, plotting, theory
from toylab.analyses import Analysis, Figure, mean_std, new_figure

# √2 apart, 1.25e-4 … 0.256: the scale-invariant best lies below 1e-3, the linear-regression best near 0.1
LR_GRID = """[0.000125, 0.000177, 0.00025, 0.000354, 0.0005, 0.000707, 0.001, 0.00141, 0.002, 0.00283, 0.004,
        0.00566, 0.008, 0.0113, 0.016, 0.0226, 0.032, 0.0453, 0.064, 0.0905, 0.128, 0.181, 0.256]"""
SPEC = """
title = "Bias correction × zero initialisation in AdamW"
claim = "C11"
question = \"\"\"The notepad's LLM ablation (lr 0.008, β1 = β2 = 0.95, wd 0.1, 4 seeds) ranks \\
ZI+BC < ZI no BC < no ZI no BC < no ZI + BC in validation perplexity: "initialisation matters \\
more than bias correction". Does that ordering hold on toy problems, across a learning-rate \\
grid, with seeds, and does the first step follow the case analysis m̂₁ ∈ {g₁, (1−β1)g₁, g₁/(1−β1)}?\"\"\"
steps = 1000
seeds = [0, 1, 2, 3]
budget = { grid = 2, seeds = 4 }   # a best lr at the grid's edge widens the grid by up to two √2 steps a side; an ordering whose interval crosses its margin asks for up to 16 seeds
metric_every = 20
probes = ["norms"]
probe_every = 1000
first_step_tolerance = 1e-3   # relative, RMS(u₁) against the case analysis (exact up to ε and float32)

[[problems]]
name = "linear_regression"
d = 16
D = 4
condition_number = 10.0
batch_size = 32

[[problems]]
name = "scale_invariant"
d_in = 32
d_out = 16
batch_size = 32

[[optimizers]]  # the notepad's settings
name = "adamw"
betas = [0.95, 0.95]
weight_decay = 0.1
bias_correction = [true, false]
zero_init = [true, false]
lr = """ + LR_GRID + """

[[optimizers]]  # torch defaults
name = "adamw"
betas = [0.9, 0.999]
weight_decay = 0.01
bias_correction = [true, false]
zero_init = [true, false]
lr = """ + LR_GRID + """

[quick]
steps = 20
seeds = [0, 1]
metric_every = 5
probe_every = 20
"""
SETTINGS = {"first_step_tolerance": 1e-3}
# (zero_init, bias_correction) per variant, best first as in the notepad's table
VARIANTS = {"ZI+BC": (True, True), "ZI, no BC": (True, False), "no ZI, no BC": (False, False),
            "no ZI, BC": (False, True)}
ORDER = list(VARIANTS)


def label(frame: pd.DataFrame) -> pd.DataFrame:
    name = {flags: variant for variant, flags in VARIANTS.items()}
    return frame.assign(variant=[name[flags] for flags in zip(frame["zero_init"], frame["bias_correction"])],
                        setting="β=(" + frame["betas"] + "), λ=" + frame["weight_decay"].map("{:g}".format))


def first_step_theory(betas: str, variant: str) -> float:
    return float(theory.first_step_rms(*VARIANTS[variant], *map(float, betas.split(","))))


def analyze(tables, spec) -> Analysis:
    metrics = label(tables["metrics"])
    final = checks.final_values(metrics, "loss", last=0.1)
    steps, keys = int(metrics["step"].max()), ["problem", "setting", "variant"]
    best, at = checks.at_best(final, "lr", keys)
    est = f"loss averaged over steps {0.9 * steps:g}–{steps} per seed, each variant at its best lr"
    order = checks.Check("C11", "C11-ordering", "loss(a)/loss(b), geometric mean over seeds", est,
                         f"a < b for adjacent variants of {' < '.join(ORDER)}", 0.0, kind="seed")
    init = checks.Check("C11", "C11-init", "worse ZI / better non-ZI loss", est,
                        "both ZI variants below both non-ZI variants", 0.0, kind="seed")
    orderings, inits = [], []
    for (problem, setting), here in at.groupby(["problem", "setting"]):
        wide, b = here.pivot_table(index="seed", columns="variant", values="value"), best.loc[(problem, setting)]
        orderings += checks.ranking(order, wide, ORDER, f"{problem} {setting}", b)
        inits.append(checks.ordering(init, wide[ORDER[:2]].max(axis=1), wide[ORDER[2:]].min(axis=1),
                                     group=f"{problem} {setting}", regime=checks.interior(b, ORDER)))
    outcomes = checks.headline(order, orderings) + checks.headline(init, inits)
    panels = len(best.index.droplevel(2).unique())
    (fig_lr, ax_lr), (fig_curves, ax_curves) = new_figure(panels, height=3.4), new_figure(panels, height=3.4)
    plotting.panel_bands(ax_lr, final, ["problem", "setting"], "lr", "value", hue="variant", best=best, log=True,
                         marker="o", xlabel="learning rate η", ylabel="loss, mean of the last 10 % of steps",
                         legend_kw={"fontsize": "xx-small"}, xscale="log")
    loss = metrics[metrics["run"].isin(at["run"]) & (metrics["metric"] == "loss")]
    plotting.panel_bands(ax_curves, loss, ["problem", "setting"], "step", "value", hue="variant", log=True,
                         ylabel="loss at the best lr per variant", legend_kw={"fontsize": "xx-small"})
    final_loss = at.groupby(keys)["value"].apply(mean_std).rename("final loss (mean ± std)")
    table = best.reset_index().rename(columns={"best": "best lr", "at_edge": "at grid edge"})[
        [*keys, "best lr", "at grid edge"]].join(final_loss, on=keys)
    figures = [Figure("final_loss_vs_lr", fig_lr, "Late loss (mean over the last 10 % of steps) against the learning "
                      "rate for the four variants (line: geometric mean over seeds, band ×/÷ 2 s.e.; ×: diverged; "
                      "star: each variant's best lr)."),
               Figure("curves_best_lr", fig_curves, "Loss over training at each variant's best learning rate "
                      "(geometric mean over seeds, band ×/÷ 2 s.e.).")]
    numbers, notes = {}, []
    if "norms" in tables and not tables["norms"].empty:
        figure, first = first_step(label(tables["norms"]), spec.settings["first_step_tolerance"])
        figures.insert(1, figure)
        outcomes = first + outcomes
        numbers = {f"RMS(u₁) {o.group} (measured / theory)": f"{o.measured:.4g} / {o.predicted:.4g}"
                   for o in first if o.group}
    else:
        notes.append("*The norms probe table is missing, so the first-step check is not shown.*")
    edges = table.groupby(["problem", "setting"])["at grid edge"].any()
    notes.append(f"Comparisons are paired over seeds at each variant's best lr on the grid "
                 f"{sorted(final['lr'].unique())}, over {panels} problem × (β, λ) panels; {int(edges.sum())} "
                 f"panels have a best lr at the grid edge, and the comparisons that involve it are inconclusive.")
    return Analysis(figures=figures, table=table, numbers=numbers, notes=notes + NOTES, checks=outcomes)


def first_step(norms: pd.DataFrame, tolerance: float):
    """The checks of RMS(u₁) per setting and variant against the C11 case analysis, and their figure."""
    rows = norms[(norms["step"] == 1) & (norms["quantity"] == "rms_direction")]
    check = checks.Check("C11", "C11-first-step", "RMS(m̂₁/(√v̂₁+ε))", "the norms probe at step 1, per seed "
                         "(all problems of a setting pooled: u₁ does not depend on the problem)",
                         "|m̂₁|/√v̂₁, case analysis", tolerance, kind="seed")
    groups = [checks.equivalence(check, g.groupby(["problem", "seed"])["value"].mean().to_numpy(),
                                 first_step_theory(g["betas"].iloc[0], variant), group=f"{setting} {variant}")
              for (setting, variant), g in rows.groupby(["setting", "variant"])]
    fig, axes = new_figure(width=5.5, height=3.6)
    ax = axes[0, 0]
    plotting.strip_with_theory(ax, rows, "variant", "value", "setting", ORDER,
                               lambda r, v: first_step_theory(r["betas"], v), "theory |m̂₁|/√v̂₁")
    ax.set(yscale="log", xlabel="variant", ylabel="RMS of the first direction u₁ (per coordinate)")
    ax.legend(fontsize="small")
    return Figure("first_step", fig, "First-step direction RMS(m̂₁/(√v̂₁+ε)) per variant, every run (points), "
                  "against the case analysis of C11 (dashed)."), checks.headline(check, groups)


NOTES = [
    "Seed 003 ch. 6: its m̂₁ and v̂₁ case analysis holds (C11-first-step). Its first-step formula does not: "
    "it writes s₁ = g₁/√(g₁² + ε) = g₁/(g₁ + ε) (ε belongs outside the root, and the equality is false) and "
    "omits the no ZI + BC case; corrected, s₁ = m̂₁/(√v̂₁ + ε) = g₁/(|g₁| + ε) (ZI+BC and no ZI, no BC), "
    "(1−β1)g₁/(√(1−β2)|g₁| + ε) (ZI, no BC) and (g₁/(1−β1))/(|g₁|/√(1−β2) + ε) (no ZI, BC), which "
    "`theory.first_step_moments` implements. Its Table 6.1 ranking is what C11-ordering and C11-init test.",
]
