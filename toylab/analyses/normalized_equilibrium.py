"""SCIENCE.md C5–C8: the equilibrium ‖g_t‖/‖x_t‖ of normalized (scale-invariant) layers.

Reads the norms probe (`grad_to_weights`, `linf_weights`) of each normalized parameter. Targets:

    SGD, constant γ (C5)         √(2λ/γ)            γ → γ(1−τ)/(1−β) with momentum β (coupled decay)
    SGD, schedule γ_t (C6)       √(2λ/γ_t)          rises as γ_t → 0: the tail blow-up
    SGDC, schedule γ_t (C8)      √(2λ/γ_max)        λ_t = λγ_t/γ_max on normalized layers
    AdamW, constant γ (C7)       ‖x‖_∞ ≈ √(γ/(2λ))  (and AdamC keeps it through a schedule)

Steady state = the median over the last quarter of a constant-lr run (the last 20 % of steps
for a schedule's tail). Layer balancing: the spread of the steady ratios over the normalized
layers of the MLP under SGD, relative to their mean.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from .. import theory
from . import THEORY, Analysis, Figure, holds, new_figure, relative_error


def variant(row) -> str:
    schedule = row.get("lr_schedule")
    scheduled = isinstance(schedule, str) and schedule.split(":")[0] != "constant"
    name = {"sgd": "SGDC" if row["corrected_decay"] else "SGD", "adamw": "AdamC" if row["corrected_decay"] else "AdamW"}[row["optimizer"]]
    if row["optimizer"] == "sgd" and row.get("momentum", 0) > 0:
        name += f" (β={row['momentum']:g})"
    return name + (" cosine" if scheduled else "")


def target(row, lr_t):
    """‖g‖/‖x‖ target at lr γ_t for SGD variants (C5, C6, C8)."""
    if row["corrected_decay"]:
        return theory.corrected_equilibrium_ratio(row["weight_decay"], theory.sgd_effective_lr(row["lr"], row["momentum"], row["dampening"]))
    return theory.scheduled_equilibrium_ratio(theory.sgd_effective_lr(lr_t, row["momentum"], row["dampening"]), row["weight_decay"])


def lr_at(row, t):
    from ..schedules import parse
    schedule = row.get("lr_schedule")
    spec = schedule if isinstance(schedule, str) else "constant"
    return parse(spec).values(int(row["steps_total"]), row["lr"]).numpy()[np.asarray(t, dtype=int)]


def analyze(tables, spec) -> Analysis:
    tol = spec.extra.get("tolerance", 0.1)
    norms = tables["norms"]
    n = norms[norms["quantity"].isin(["grad_to_weights", "linf_weights"]) & (norms["param"] != "V")].copy()
    n["steps_total"] = n.groupby("run")["step"].transform("max")
    n["variant"] = n.apply(variant, axis=1)
    rows, curves = [], []
    for (run, param), r in n[n["quantity"] == "grad_to_weights"].groupby(["run", "param"]):
        info = r.iloc[0]
        T = info["steps_total"]
        t = r["step"].to_numpy()
        scheduled = "cosine" in info["variant"]
        mid = r[(t > T / 4) & (t <= T / 2)]["value"].median()
        tail = r[t > 0.8 * T]["value"].median()
        steady = r[t > 0.75 * T]["value"].median()
        linf = n[(n["run"] == run) & (n["param"] == param) & (n["quantity"] == "linf_weights") & (n["step"] > 0.75 * T)]["value"].median()
        row = {"problem": info["problem"], "param": param, "variant": info["variant"], "lr": info["lr"],
               "weight_decay": info["weight_decay"], "seed": info["seed"]}
        if info["optimizer"] == "sgd":
            pred_t = np.broadcast_to(target(info, lr_at(info, t)), t.shape)
            row |= {"measured ‖g‖/‖x‖": tail if scheduled else steady,
                    "target": float(pred_t[t > 0.8 * T].mean()) if scheduled else float(pred_t[-1]),
                    "tail / mid-training": tail / mid}
            curves.append(r.assign(target=pred_t))
        else:
            row |= {"measured ‖x‖_∞": linf, "target": theory.adamw_inf_norm(info["lr"], info["weight_decay"]),
                    "measured ‖g‖/‖x‖": tail if scheduled else steady, "tail / mid-training": tail / mid}
            curves.append(r.assign(target=np.nan))
        rows.append(row)
    table = pd.DataFrame(rows)
    curves = pd.concat(curves)
    numbers, verdicts = {}, []

    def check(mask, measured, what, claim):
        sub = table[mask]
        if sub.empty:
            return
        err = relative_error(sub[measured], sub["target"]).max()
        numbers[f"{what}: max relative error ({len(sub)} runs × layers)"] = f"{100 * err:.3g} %"
        verdicts.append(holds(f"{claim} ({what})", err, tol))

    plain = ~table["variant"].str.contains("cosine")
    check(plain & table["variant"].str.startswith("SGD") & ~table["variant"].str.contains("β"), "measured ‖g‖/‖x‖", "‖g‖/‖x‖ = √(2λ/γ), SGD", "C5")
    check(plain & table["variant"].str.contains("β"), "measured ‖g‖/‖x‖", "‖g‖/‖x‖ = √(2λ(1−β)/γ), SGD-momentum", "C5")
    check(plain & (table["variant"] == "AdamW"), "measured ‖x‖_∞", "‖x‖_∞ = √(γ/2λ), AdamW", "C7")
    check(table["variant"] == "SGDC cosine", "measured ‖g‖/‖x‖", "last 20 % at √(2λ/γ_max), SGDC cosine", "C8")
    for name in ("SGD cosine", "SGDC cosine", "AdamW cosine", "AdamC cosine"):
        sub = table[table["variant"] == name]
        if len(sub):
            numbers[f"{name}: ‖g‖/‖x‖ in the last 20 % / in steps T/4…T/2"] = f"{sub['tail / mid-training'].mean():.3g}"
    blowup = table[table["variant"] == "SGD cosine"]["tail / mid-training"].mean()
    fixed = table[table["variant"] == "SGDC cosine"]["tail / mid-training"].mean()
    if np.isfinite(blowup) and np.isfinite(fixed):
        verdicts.append(f"C6/C8: under a cosine schedule ‖g‖/‖x‖ ends {blowup:.3g}× its mid-training value with SGD "
                        f"and {fixed:.3g}× with SGDC")
    mlp = table[(table["problem"] == "scale_invariant_mlp") & plain & table["variant"].str.startswith("SGD")]
    if len(mlp):
        spread = mlp.groupby(["variant", "seed"])["measured ‖g‖/‖x‖"].agg(lambda v: (v.max() - v.min()) / v.mean()).max()
        numbers["layer balancing (MLP): max spread of steady ‖g‖/‖x‖ over normalized layers / mean"] = f"{100 * spread:.3g} %"
        verdicts.append(holds("layer balancing on the MLP (C5)", spread, tol))

    fig, axes = new_figure(2, width=5.0)
    main = curves[(curves["problem"] == "scale_invariant") & curves["variant"].isin(["SGD", "SGD cosine", "SGDC cosine"])
                  & np.isclose(curves["weight_decay"], spec.extra.get("show_weight_decay", 0.1))]
    ax = axes[0, 0]
    sns.lineplot(main, x="step", y="value", hue="variant", errorbar=("se", 2), ax=ax)
    for name, r in main.groupby("variant"):
        tt = r.groupby("step")["target"].mean()
        ax.plot(tt.index, tt.values, **THEORY)
    ax.set(yscale="log", xlabel="step t", ylabel="‖g_t‖/‖x_t‖", title="SGD on a normalized layer (dashed: √(2λ/γ_t))")
    ax = axes[0, 1]
    bal = curves[(curves["problem"] == "scale_invariant_mlp") & ~curves["variant"].str.contains("cosine")]
    if len(bal):
        sns.lineplot(bal, x="step", y="value", hue="variant", style="param", errorbar=None, ax=ax)
        ax.set(yscale="log", xlabel="step t", ylabel="‖g_t‖/‖x_t‖", title="layer balancing: MLP layers W1, W2")
    adam = curves[(curves["problem"] == "scale_invariant") & curves["variant"].str.startswith("Adam")]
    fig2, ax2 = new_figure(1, width=5.0)
    sns.lineplot(adam, x="step", y="value", hue="variant", errorbar=("se", 2), ax=ax2[0, 0])
    ax2[0, 0].set(yscale="log", xlabel="step t", ylabel="‖g_t‖/‖x_t‖", title="AdamW vs AdamC under a cosine schedule")
    return Analysis(
        figures=[Figure("equilibrium", fig, "Left: ‖g‖/‖x‖ of a normalized layer under SGD (constant lr, cosine, cosine "
                        "with SGDC); dashed: the targets √(2λ/γ_t). Right: the normalized layers of the MLP "
                        "(constant lr) reach the same ratio."),
                 Figure("adam", fig2, "AdamW and AdamC on the normalized layer (constant and cosine lr).")],
        table=table, numbers=numbers, verdict="; ".join(verdicts) + f" (tolerance {100 * tol:g} %).")
