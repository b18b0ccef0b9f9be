"""C14 (003, docs/claims.md) part (b): the notepad's nested moving average against Adam.

A run's final loss is its excess loss averaged over the last 20 % of steps (`checks.final_values`).
Nested EMA against Adam, each at its best lr, per β setting: "the nested average beats Adam at
some β1" (`C14-nested-ema`, combine `any`).
"""
import pandas as pd

from toylab import checks, plotting
from toylab.analyses import Analysis, Figure, new_figure

SPEC = '''
title = "The notepad's nested moving average against Adam"
claim = "C14"
question = """Does the nested moving average EMA_β1(g/(√v̂ + ε)) beat Adam's EMA(g)/(√v̂ + ε) at the best lr \
of each, over a β grid?"""
steps = 300
seeds = [0, 1, 2, 3, 4]
metric_every = 10
dtype = "float64"
margin = 0.05          # log-ratio margin of "nested < Adam"

# Least squares, k = 64 coordinates (16 × 4 with the bias row), κ = 100, fresh batches of 32, zero init.
[[problems]]
name = "linear_regression"
d = 15
D = 4
condition_number = 100.0
batch_size = 32
reduction = "mean"
noise = 0.1
init_std = 0.0

# Nested moving average against Adam, each over an lr grid, on a β grid (torch defaults otherwise).
[[optimizers]]
name = "adamw"
lr = [1e-2, 3e-2, 1e-1, 3e-1]
betas = [[0.9, 0.999], [0.5, 0.999], [0.99, 0.999]]
weight_decay = 0.0
nested_ema = [false, true]

[quick]
steps = 30
seeds = [0, 1]
'''
SETTINGS = {"margin": ...}
LAST_FRACTION = 0.2


def analyze(tables, spec) -> Analysis:
    final = checks.final_values(tables["metrics"], "excess_loss", last=LAST_FRACTION)
    steps = int(tables["metrics"]["step"].max())
    nested = final.assign(variant=final["nested_ema"].astype(bool).map({True: "nested EMA", False: "Adam"}),
                          beta="β=(" + final["betas"].astype(str) + ")")
    lr_grid = ", ".join(f"{v:g}" for v in sorted(nested["lr"].unique()))
    nest_check = checks.Check("C14", "C14-nested-ema", "final-loss ratio nested EMA / Adam",
                              f"excess loss averaged over steps {(1 - LAST_FRACTION) * steps:g}–{steps} per seed, "
                              f"each variant at its best lr of {{{lr_grid}}}",
                              "003 §1: the nested average beats Adam at some β1 (ratio < e^−margin)",
                              float(spec.settings["margin"]), combine="any", kind="hypothesis")
    outcomes = checks.headline(nest_check, checks.orderings_at_best(nest_check, nested, "nested EMA", "Adam", "beta",
                                                                    name="variant"))
    best = checks.best_points(nested, "lr", ["betas", "variant"])[["betas", "variant", "best", "value", "at_edge"]]
    table = best.rename(columns={"best": "best lr", "value": "final loss (geo. mean)"})
    table.insert(0, "part", "(b) nested EMA")
    return Analysis(figures=[figure(nested)], table=table, numbers={}, checks=outcomes, notes=NOTES)


NOTES = [
    "Seed 003's nested average K^t = (1−β1)Σ_{j=0}^{t−1} β1^{t−i−1}·… mixes indices i and j: read "
    "K^t = (1−β1)Σ_{j=1}^{t} β1^{t−j} g_j/(√v_j + ε) (zero init).",
]


def figure(nested: pd.DataFrame) -> Figure:
    """The final loss against lr per variant and β, geometric mean over seeds with its band."""
    fig, axes = new_figure(1, width=4.4)
    ax = axes[0][0]
    plotting.seed_band(ax, nested.assign(setting=nested["variant"] + " " + nested["beta"]), "lr", "value",
                       hue="setting", log=True, marker="o", markersize=3)
    ax.set(xscale="log", yscale="log", xlabel="lr", title="(b) nested EMA vs Adam",
           ylabel=f"excess loss, mean of last {LAST_FRACTION:.0%} of steps")
    plotting.legend(ax, fontsize=6, loc="upper left")
    return Figure("notepad_nested_ema", fig, "Final excess loss against lr, geometric mean over seeds with a band "
                  "×/÷ 2 s.e.")
