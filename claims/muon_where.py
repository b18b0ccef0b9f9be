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
makes a group inconclusive. The base run belongs to every linear-regression axis but `rank`
(`toylab.compare.sweep.one_at_a_time`). NorMuon (`muon` with normalize = "rows", its own lr grid,
the same schedule) is a fourth optimizer, labelled `normuon` (`protocol.optimizer_label`), never
one of Muon's "others": `C13-where-normuon-muon` (NorMuon beats Muon by the margin) and
`C13-where-normuon-other` (NorMuon beats Muon's best other), one group per region, `any`. An
interval that crosses e^±margin asks for more seeds (`checks.ordering`'s tie rule): the budget
doubles the seeds up to 8×, the tuning seeds stay as declared, so every new seed is held out.
From the spectra probe, for Muon at its tuned lr: the stable rank ‖G‖²_F/‖G‖²_op of G_t and of
the Newton–Schulz output O_t as a share of min(m, n) (`estimators.stable_rank_share`), median over
probed steps and seeds, and of NorMuon's row-normalised O′_t at its tuned lr (the probe's direction). SETTINGS: `base`, the linear-regression setting the axes vary around;
`floor`, values below it are ties (float32 runs reach ≈1e-13); `margin`, the log-ratio Muon must
clear; `tune_seeds`, the seeds tuning sees.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from toylab import checks, estimators, plotting
from toylab.analyses import Analysis, Figure, new_figure
from toylab.compare import sweep

SPEC = '''
title = "Where does Muon help? Muon and NorMuon vs AdamW vs SGD, held-out seeds, one axis at a time"
claim = "C13"
question = """On multi-output least squares L(W) = ‖Y − XW‖²_F/B around a base setting (d = 16 \
inputs, D = 8 outputs, input covariance of condition number κ = 100, streaming batches of 32, label \
noise 0.1), varying one of κ, the effective rank r of the covariance, D, the batch size and the \
noise at a time, and on a scale-invariant teacher–student and on digits: where does Muon, at an lr \
tuned on other seeds, end below AdamW and SGD with momentum by a margin, by how much, and what do the \
singular values of G_t and of the Newton–Schulz output say about why? Where does NorMuon (Muon with its \
update's rows normalised) end below Muon, and below the best of AdamW and SGD?"""
steps = 300
seeds = [0, 1, 2, 3, 4, 5]
tune_seeds = [0, 1]
budget = { seeds = 8 }  # an interval crossing the margin asks for more held-out seeds: up to 48 seeds, 46 held out
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

[[optimizers]]  # NorMuon: its own lr grid, Muon's schedule
name = "muon"
normalize = "rows"
schedules = {lr = "cosine"}
lr = [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0]
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
name = "muon"
normalize = "rows"
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
SHARES = {("muon", "grad"): "srank G / n", ("muon", "direction"): "srank O / n", ("normuon", "direction"): "srank O′ / n"}
OTHERS = ("adamw", "sgd")  # the best other is one of these: Muon and NorMuon are never each other's
NORMUON = {"muon": "NorMuon / Muon", "other": "NorMuon / best other"}  # NorMuon's checks: against whom
ESTIMATOR = ("per held-out seed, the final metric (diverged: its initial value) at each one's lr tuned on the tuning "
             "seeds by toylab compare's rule, against {}; paired")


def regions(runs: pd.DataFrame, base: dict) -> pd.DataFrame:
    """`sweep.one_at_a_time`: the base setting lies on every linear-regression axis but `rank` (r replaces κ)."""
    return sweep.one_at_a_time(runs, base, AXES, "linear_regression", own=("effective_rank",))


def analyze(tables, spec) -> Analysis:
    runs, rows = sweep.finals(tables["metrics"], spec.settings["floor"])
    place = regions(runs, spec.settings["base"])
    region = place.groupby("run")["region"].first()
    at, tuned = sweep.held_out(runs.assign(problem=runs["run"].map(region)), rows, spec.settings["tune_seeds"], OTHERS)
    m, outcomes, table, score = spec.settings["margin"], [], [], at[at["role"] == "score"]
    for axis, frame in score.merge(place, on="run").sort_values("at").groupby("axis", sort=False):
        check = checks.Check("C13", f"C13-where-{axis}", "final value ratio Muon / best other", ESTIMATOR.format(
            "the other optimizer lower on the tuning seeds"), "Muon lower by the margin at some value of the axis", m,
                             combine="any", kind="hypothesis")
        outcomes += checks.headline(check, groups := sweep.orderings(check, frame, tuned, "muon", "other", "group"))
        table += [{"axis": axis, "group": o.group, "region": r, "best other": tuned.at[(r, "muon"), "other"], **{
            f"lr {x}": tuned.at[(r, x), "lr"] for x in ("muon", "normuon", *OTHERS)}, **{k: getattr(o, k) for k in RESULT}}
                  for o, r in zip(groups, frame.groupby("group", sort=False)["region"].first())]
    nor = {}
    for name, text in NORMUON.items():
        check = checks.Check("C13", f"C13-where-normuon-{name}", f"final value ratio {text}", ESTIMATOR.format(
            "Muon" if name == "muon" else "Muon's best other"), f"{text.replace(' / ', ' lower than ')} by the margin "
                             "in some region", m, combine="any", kind="hypothesis")
        outcomes += checks.headline(check, groups := sweep.orderings(check, score, tuned, "normuon", name, "problem"))
        nor[name] = {o.group: o for o in groups}
    ran = at[at["optimizer"].isin(["muon", "normuon"])].set_index("run")
    share = estimators.stable_rank_share(tables["spectra"].query("run in @ran.index and quantity in ['grad', 'direction']"))
    share = share.reset_index().join(ran[["problem", "optimizer"]], on="run").pivot_table(
        "share", "problem", ["optimizer", "quantity"], "median")[list(SHARES)].set_axis(list(SHARES.values()), axis=1)
    table = pd.DataFrame(table).rename(columns=RESULT)
    cells = {"": lambda o: o.measured, " verdict": lambda o: o.verdict + (f" ({o.cause})" if o.cause else "")}
    table = table.assign(**{f"{text}{end}": table["region"].map({r: cell(o) for r, o in nor[name].items()})
                            for name, text in NORMUON.items() for end, cell in cells.items()}).join(share, on="region")
    fig, axes = new_figure(3, width=4.4, height=0.26 * len(table) + 1.2, sharey=True)
    labels, y = table["axis"] + ": " + table["group"] + " vs " + table["best other"], np.arange(len(table))[::-1]
    plotting.ratio_forest(axes[0, 0], [o for o in outcomes if o.group and o.check.id.count("-") == 2], labels, m)
    plotting.ratio_forest(axes[0, 1], [nor["muon"][r] for r in table["region"]], labels, m)
    for (opt, q), marker in zip(SHARES, "o.x"):
        axes[0, 2].scatter(table[SHARES[opt, q]], y, marker=marker, label=f"{opt}: {SHARES[opt, q]}")
    axes[0, 0].set(xlabel="final value ratio Muon / best other"), axes[0, 1].set(xlabel="final value ratio NorMuon / Muon")
    axes[0, 2].set(xlabel="stable rank share at the tuned lr"), plotting.legend(axes[0, 2], fontsize="x-small")
    lose, spread = table[table["verdict"] == "fails"], table.drop_duplicates("region")
    rho = {k: f"{spearmanr(np.log(t['ratio']), t[SHARES['muon', 'grad']])[0]:.2f} over {len(t)} regions" for k, t in (
        ("κ, r", spread[spread["region"].isin(table.query("axis in ['condition', 'rank']")["region"])]), ("all", spread))}
    won = lambda outs: "; ".join(f"{o.group}: {o.measured:.3g} [{o.ci_low:.3g}, {o.ci_high:.3g}]" for o in outs
                                 if o.verdict == "holds") or "nowhere"
    n = {"Muon wins (ratio [95 % CI])": won(o for o in outcomes if o.group and o.check.id.count("-") == 2),
         "Muon loses by the margin": f"{len(lose)} of {len(table)} groups, ratio {lose['ratio'].min():.3g}–{lose['ratio'].max():.3g}",
         **{f"{text}: NorMuon wins (ratio [95 % CI])": won(nor[k].values()) for k, text in NORMUON.items()},
         **{f"{text}: NorMuon loses": f"{sum(o.verdict == 'fails' for o in nor[k].values())} of {len(nor[k])} regions"
            for k, text in NORMUON.items()},
         "srank share: Muon G → Muon O → NorMuon O′": " → ".join(f"{spread[q].median():.2f}" for q in SHARES.values()),
         **{f"Spearman ρ(log ratio, srank G / n), {k} regions": v for k, v in rho.items()}}
    notes = [f"Tested per region: r = exp(mean_s log(v_Muon,s / v_other,s)) over held-out seeds, v the final value; Muon wins "
             f"where r's interval lies below e^−{m:g}, loses above e^{m:g}, ties within, and asks for more held-out seeds where "
             f"it crosses e^±{m:g}. Muon wins: {n['Muon wins (ratio [95 % CI])']}; loses: {n['Muon loses by the margin']}. "
             f"Stable-rank share (median over regions) of Muon's G_t → its Newton–Schulz output O_t → NorMuon's row-normalised "
             f"O′_t: {n['srank share: Muon G → Muon O → NorMuon O′']}. Along κ and r the ratio rises with G_t's share (Spearman "
             f"ρ {rho['κ, r']}; all regions: {rho['all']}): Muon gains where G_t is concentrated in few directions; across D "
             f"the share follows min(d+1, D).", *NOTES]
    return Analysis([Figure("map", fig, "Left: Muon's final value over the best other's per region, geometric mean over "
                            "held-out seeds with its 95 % interval (grey: tied band). Middle: NorMuon's over Muon's. Right: "
                            "stable-rank shares at the tuned lr, median over probed steps and seeds.")], table, n,
                    checks=outcomes, notes=notes)


NOTES = ["Where NorMuon differs from Muon, and why. NorMuon divides each row of O_t by the root of an EMA of its mean "
         "square, then rescales the whole to ‖O_t‖_F. Where the matrix is wide (rows ≤ columns: scale_invariant's W is "
         "[8, 16], its rows the output neurons NorMuon's paper normalises; linear regression's with D = 32 is [17, 32]), "
         "O_t ≈ UVᵀ has orthonormal rows, every row already has norm 1 and the normalisation is nearly the identity: "
         "NorMuon / Muon is tied at 1 there within a fraction of a per cent, and O′_t's stable-rank share equals O_t's. Where it is tall (linear regression's W is [d+1, D] = [17, 8] at the base, digits' [65, 10]; "
         "their rows are input coordinates and the bias, not neurons: the paper's choice would be normalize = columns "
         "here), O_t has orthonormal columns and its squared row norms are the leverage scores of the update's row space, "
         "uneven wherever inputs are; equalising them is a per-input step size applied after orthogonalisation, and "
         "makes the update less orthogonal: O′_t's stable-rank share lies below O_t's (summary table). On linear "
         "regression the covariance's eigenbasis is rotated at random, so no input coordinate is special, and NorMuon "
         "ties Muon within the margin (only e = 0's interval, the widest, still crosses it); on digits, whose border pixels are almost always "
         "0, it ends at about half Muon's loss and no longer loses to AdamW by the margin. With D = 1, O_t is a unit "
         "vector and NorMuon's rows turn it towards its sign."]
