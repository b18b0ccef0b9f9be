"""C13 (003 ch. 7, docs/claims.md): where does Muon help? Muon against AdamW and SGD with momentum
over the axes of multi-output linear regression, one axis at a time around a base setting.

The protocol is `toylab compare`'s (`toylab.compare.protocol.held_out`, rules in
`toylab.compare.stats`): every optimizer runs its lr grid on every seed with a cosine decay to 0
over the budget; per region (one problem setting) the target y* is twice the best tuning value,
each optimizer's lr is tuned on the `tune_seeds` only (no divergence, fewest misses of y*, fewest
steps to y*, lowest final value), and so is the best other optimizer (the smallest tuning key).
On the held-out seeds, paired, the value of a run is its final metric (`excess_loss`, or `loss`
where a problem records no excess loss: `scale_invariant`'s is against the noise-free teacher, 0
at the optimum; `digits_softmax`'s is the training loss), values below the precision `floor` set
to it (ties) and a diverged run counted as its initial value (compare's cap). `C13-where-<axis>`
(the lab's hypothesis): Muon beats the best other by the margin (`checks.ordering`, ratio
< e^−margin), one group per value of the axis, the headline holding when any value does
(`combine="any"`: the question is where, not whether everywhere); a tuned lr at its grid edge
makes a group inconclusive. The base run belongs to every linear-regression axis but `rank`.
From the spectra probe, for Muon at its tuned lr: the stable rank ‖G‖²_F/‖G‖²_op of G_t and of
the Newton–Schulz output O_t as a share of min(m, n) (`estimators.stable_rank_share`), median over
probed steps and seeds. SETTINGS: `base`, the linear-regression setting the axes vary around;
`floor`, values below it are ties (float32 runs reach ≈1e-13); `margin`, the log-ratio Muon must
clear; `tune_seeds`, the seeds tuning sees.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from toylab import checks, estimators, plotting
from toylab.analyses import Analysis, Figure, new_figure
from toylab.compare import protocol

SPEC = '''
title = "Where does Muon help? Muon vs AdamW vs SGD, held-out seeds, one axis at a time"
claim = "C13"
question = """On multi-output least squares L(W) = ‖Y − XW‖²_F/B around a base setting (d = 16 \
inputs, D = 8 outputs, input covariance of condition number κ = 100, streaming batches of 32, label \
noise 0.1), varying one of κ, the effective rank r of the covariance, D, the batch size and the \
noise at a time, and on a scale-invariant teacher–student and on digits: where does Muon, at an lr \
tuned on other seeds, end below AdamW and SGD with momentum by a margin, by how much, and what do the \
singular values of G_t and of the Newton–Schulz output say about why?"""
steps = 300
seeds = [0, 1, 2, 3, 4, 5]
tune_seeds = [0, 1]
metric_every = 20
probes = ["spectra"]
probe_every = 100

[[problems]]  # the base setting
name = "linear_regression"
reduction = "mean"
D = 8
condition_number = 100.0

[[problems]]
name = "linear_regression"
reduction = "mean"
D = 8
condition_number = [1.0, 1000.0]

[[problems]]  # eigenvalues exp(−i/r) in place of the geometric κ = 100
name = "linear_regression"
reduction = "mean"
D = 8
effective_rank = [1.0, 4.0]

[[problems]]
name = "linear_regression"
reduction = "mean"
D = [1, 32]
condition_number = 100.0

[[problems]]
name = "linear_regression"
reduction = "mean"
D = 8
condition_number = 100.0
batch_size = [4, 512]

[[problems]]
name = "linear_regression"
reduction = "mean"
D = 8
condition_number = 100.0
noise = [0.0, 1.0]

[[problems]]
name = "scale_invariant"
d_in = 16
d_out = 8

[[problems]]
name = "digits_softmax"

[[optimizers]]
name = "muon"
schedules = {lr = "cosine"}
lr = [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0]  # digits: 3 was the edge
weight_decay = 0.0

[[optimizers]]
name = "adamw"
schedules = {lr = "cosine"}
lr = [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0]
weight_decay = 0.0

[[optimizers]]
name = "sgd"
schedules = {lr = "cosine"}
lr = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0, 30.0]  # scale_invariant, digits: 3, 10 were edges
momentum = 0.9

[quick]
steps = 20
seeds = [0, 1, 2, 3]
tune_seeds = [0, 1]
metric_every = 5
probe_every = 10

[[quick.problems]]
name = "linear_regression"
reduction = "mean"
D = 8
condition_number = [100.0, 1000.0]

[[quick.optimizers]]
name = "muon"
schedules = {lr = "cosine"}
lr = [1e-2, 1e-1, 1.0]
weight_decay = 0.0

[[quick.optimizers]]
name = "adamw"
schedules = {lr = "cosine"}
lr = [1e-2, 1e-1, 1.0]
weight_decay = 0.0

[[quick.optimizers]]
name = "sgd"
schedules = {lr = "cosine"}
lr = [1e-2, 1e-1, 1.0]
momentum = 0.9
'''
SETTINGS = {"base": {"condition_number": 100.0, "effective_rank": 0.0, "D": 8, "batch_size": 32, "noise": 0.1},
            "floor": 1e-10, "margin": 0.1, "tune_seeds": ...}
AXES = {"condition_number": ("condition", "κ"), "effective_rank": ("rank", "r"), "D": ("outputs", "D"),
        "batch_size": ("batch", "B"), "noise": ("noise", "e")}
RESULT = {"measured": "ratio", "ci_low": "low", "ci_high": "high", "verdict": "verdict"}
SHARES = {"grad": "srank G / n", "direction": "srank O / n"}
ESTIMATOR = ("per held-out seed, the final metric (diverged: its initial value) at each one's lr tuned on the tuning "
             "seeds by toylab compare's rule, against the other optimizer lower on the tuning seeds; paired")


def regions(runs: pd.DataFrame, base: dict) -> pd.DataFrame:
    """Per run its region (one problem setting) and, once per axis it lies on, the axis and group
    (`κ=1000`); the base setting lies on every linear-regression axis but `rank`."""
    rows = []  # one per (run, axis)
    for r in runs.itertuples():
        differ = [k for k in AXES if r.problem == "linear_regression" and getattr(r, k) != base[k]]
        on = (["problem"] if r.problem != "linear_regression" else ["effective_rank"] if "effective_rank" in differ
              else differ or [k for k in AXES if k != "effective_rank"])
        region = r.problem if on == ["problem"] else f"{AXES[on[0]][1]}={getattr(r, on[0]):g}" if differ else "base"
        rows += [{"run": r.run, "region": region, "axis": AXES.get(k, ("problem",))[0], "at": 0 if k == "problem" else getattr(r, k),
                  "group": region if k == "problem" else f"{AXES[k][1]}={getattr(r, k):g}"} for k in on]
    return pd.DataFrame(rows)


def compared(metrics: pd.DataFrame, spec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tuned settings' runs (`protocol.held_out`) by region, axis and group; per region the tuned
    lrs and Muon's best other optimizer (lowest geometric-mean final value on the tuning seeds)."""
    own = metrics.groupby("problem")["metric"].agg(lambda m: "excess_loss" if "excess_loss" in set(m) else "loss")
    rows = metrics[metrics["metric"] == metrics["problem"].map(own)].assign(value=lambda f: f["value"].clip(lower=spec.settings["floor"]))
    runs = checks.final_values(rows).rename(columns={"value": "final"})
    place = regions(runs, spec.settings["base"])
    runs = runs.assign(setting=runs["lr"], budget=runs["steps"], problem=runs["run"].map(place.groupby("run")["region"].first()),
                       initial=runs["run"].map(rows.sort_values("step").groupby("run")["value"].first()))
    _, tuned, runs = protocol.held_out(runs, rows, spec.settings["tune_seeds"])
    at = runs[runs["tuned"]]
    tune = at[(at["role"] == "tune") & (at["optimizer"] != "muon")]
    other = checks.best_points(tune.assign(value=tune["final"]), "optimizer", ["problem"]).set_index("problem")["best"]
    return at.merge(place, on="run"), tuned.assign(other=tuned["problem"].map(other)).set_index(["problem", "optimizer"])


def analyze(tables, spec) -> Analysis:
    at, tuned = compared(tables["metrics"], spec)
    m, outcomes, rows = spec.settings["margin"], [], []
    for axis, frame in at[at["role"] == "score"].sort_values("at").groupby("axis", sort=False):
        check = checks.Check("C13", f"C13-where-{axis}", "final value ratio Muon / best other", ESTIMATOR, "Muon lower by "
                             "the margin at some value of the axis", m, combine="any", kind="hypothesis")
        groups = []
        for (group, region), g in frame.groupby(["group", "region"], sort=False):
            other = tuned.at[(region, "muon"), "other"]
            wide = g.assign(v=np.minimum(g["final"], g["initial"])).pivot_table("v", "seed", "optimizer")
            groups.append(checks.ordering(check, wide["muon"], wide[other], group, checks.interior(tuned.loc[region], ["muon", other])))
            rows.append({"axis": axis, "group": group, "region": region, "best other": other, **{f"lr {o}": tuned.at[
                (region, o), "lr"] for o in ("muon", "adamw", "sgd")}, **{k: getattr(groups[-1], k) for k in RESULT}})
        outcomes += checks.headline(check, groups)
    muon = at[at["optimizer"] == "muon"].drop_duplicates("run").set_index("run")["region"]
    share = estimators.stable_rank_share(tables["spectra"].query("run in @muon.index and quantity in @SHARES")).reset_index()
    table = pd.DataFrame(rows).rename(columns=RESULT).join(share.assign(region=share["run"].map(muon)).pivot_table(
        "share", "region", "quantity", "median")[list(SHARES)].rename(columns=SHARES), on="region")
    fig, axes = new_figure(2, width=5.2, height=0.26 * len(table) + 1.2, sharey=True)
    plotting.ratio_forest(axes[0, 0], [o for o in outcomes if o.group], table["axis"] + ": " + table["group"] + " vs "
                          + table["best other"], m)
    axes[0, 1].scatter(table[SHARES["grad"]], axes[0, 0].get_yticks(), color="0.3")
    axes[0, 0].set(xlabel="final value ratio Muon / best other"), axes[0, 1].set(xlabel="stable rank share of G_t (Muon)")
    lose, spread = table[table["verdict"] == "fails"], table.drop_duplicates("region")
    rho = {k: f"{spearmanr(np.log(t['ratio']), t[SHARES['grad']])[0]:.2f} over {len(t)} regions" for k, t in (("κ, r", spread[
        spread["region"].isin(table.query("axis in ['condition', 'rank']")["region"])]), ("all", spread))}
    n = {"Muon wins (ratio [95 % CI])": "; ".join(f"{r.group} vs {r._4}: {r.ratio:.3g} [{r.low:.3g}, {r.high:.3g}]" for r in
                                                  table[table["verdict"] == "holds"].itertuples()) or "nowhere",
         "Muon loses by the margin": f"{len(lose)} of {len(table)} groups, ratio {lose['ratio'].min():.3g}–{lose['ratio'].max():.3g}",
         "srank share G → O": " → ".join(f"{spread[q].median():.2f}" for q in SHARES.values()),
         **{f"Spearman ρ(log ratio, srank G / n), {k} regions": v for k, v in rho.items()}}
    notes = [f"Tested per region: r = exp(mean_s log(v_Muon,s / v_other,s)) over held-out seeds, v the final value; Muon "
             f"wins where r's interval lies below e^−{m:g}, loses above e^{m:g}, else tied (this replaces C13-muon-best's "
             f"question). Muon wins: {n['Muon wins (ratio [95 % CI])']}; loses: {n['Muon loses by the margin']}. Spectra: "
             f"Newton–Schulz lifts the stable-rank share from G_t's to O_t's ({n['srank share G → O']}, median over regions). Along κ and r the ratio rises with G_t's share (Spearman ρ {rho['κ, r']}; all regions: "
             f"{rho['all']}): Muon gains where G_t is concentrated in few directions; across D the share follows min(d+1, D)."]
    return Analysis([Figure("map", fig, "Left: Muon's final value over the best other's per region, geometric mean over "
                            "held-out seeds with its 95 % interval (grey: tied band). Right: G_t's stable-rank share for "
                            "Muon, median over probed steps and seeds.")], table, n, checks=outcomes, notes=notes)
