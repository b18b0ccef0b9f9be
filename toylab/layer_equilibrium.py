"""The equilibrium of scale-invariant layers, read from the `norms` probe (002, docs/claims.md C5–C8):
what the claims `normalized_equilibrium` (SGD) and `adamw_normalized_equilibrium` (AdamW) share.

Per seed, ρ = √(mean_W a² / mean_W b²) over a window W of steps (`estimators.windowed_ratio`), W a
fraction of the run T (`HALF`, `MID`, `TAIL`). A group pools the seeds of one (variant, problem,
layer, λ, γ[, β1]). A check at equilibrium needs its window to start `Needs.relaxation_times`
relaxation times in — 1/(γ_eff λ) for SGD, `theory.adamw_norm_relaxation` for AdamW — and, at
constant lr, the drift of ‖x‖² between the window's halves within `Needs.drift` × the check's
tolerance (under a schedule ‖x‖ follows the gradient scale, which the schedule changes: no drift test).
"""
from __future__ import annotations

import pandas as pd

from . import checks, estimators, theory
from .analyses import pair_first

HALF, MID, TAIL = (0.5, 1.0), (0.25, 0.5), (0.8, 1.0)  # T/2…T, T/4…T/2, the last 20 %


def scheduled(r) -> bool:
    return isinstance(r["lr_schedule"], str) and not r["lr_schedule"].startswith("constant")


def variant(r) -> str:
    """`SGD`, `SGD (β=0.9)`, `SGDC cosine`, `AdamW β1=0`, `AdamC β1=0 cosine`: the run's optimizer as the checks name it."""
    adam = r["optimizer"] == "adamw"
    name = ("Adam" if adam else "SGD") + ("C" if r["corrected_decay"] else "W" * adam)
    name += f" (β={r['momentum']:g})" if not adam and r["momentum"] > 0 else ""
    return name + (f" β1={pair_first(r['betas']):g}" if adam else "") + (" cosine" if scheduled(r) else "")


def relaxation(r) -> float:
    """Steps per relaxation time of ‖x‖: 1/(γ_eff λ) for SGD, the slow mode of (‖x‖², v) for AdamW."""
    if r["optimizer"] == "adamw":
        return float(theory.adamw_norm_relaxation(r["lr"], r["weight_decay"], float(str(r["betas"]).split(",")[1])))
    return float(theory.tau_iter(theory.sgd_effective_lr(r["lr"], r["momentum"], r["dampening"]), r["weight_decay"]))


def settled(check, g, lo, hi) -> checks.Regime:
    """Equilibrium of the group's runs over lo·T…hi·T (`checks.settled` on ‖x‖²; no drift test under a schedule)."""
    T, r = g["steps_total"].iloc[0], g.iloc[0]
    return checks.settled(check, g, lo * T, hi * T, relaxation(r), value="x2", stationary=not scheduled(r))


def at(f):
    """f(γ, λ) of a run."""
    return lambda r: f(r["lr"], r["weight_decay"])


def norms(tables) -> pd.DataFrame:
    """The norms probe, one row per (run, layer, step) with its columns, the run length `steps_total`,
    `x2` = RMS(x)², `one` = 1, the `variant` and the `group` (problem, layer, λ, γ)."""
    wide = estimators.probe_columns(tables["norms"].query("param != 'V'"))
    runs = wide.to_dict("records")
    return wide.assign(steps_total=wide.groupby("run")["step"].transform("max"), one=1.0, x2=wide["rms_weights"] ** 2,
                       variant=[variant(r) for r in runs],
                       group=[f"{r['problem']} {r['param']}, λ={r['weight_decay']:g}, γ={r['lr']:g}" for r in runs])


def check(spec, cid, quantity, estimator, prediction, kind="seed", t=1.0, longer="") -> checks.Check:
    """A check at equilibrium: tolerance t × the `tolerance` setting, ≥ 3 relaxation times in, the
    `drift` setting; `longer`: the optimizer whose runs are extended when the regime is not reached."""
    return checks.Check(cid[:2], cid, quantity, estimator, prediction, t * spec.settings["tolerance"], kind=kind,
                        needs=checks.Needs(relaxation_times=3, drift=spec.settings["drift"], longer=longer))


def windowed_checks(spec, wide, table) -> list[checks.Outcome]:
    """One equivalence check per row of `table`: id, kind, tolerance (× `tolerance`), what is
    measured (a, b, num, den: the ratio a/b of probe columns num/den, b = "" for a alone), window,
    regime window, variants, prediction, predict(run); one group per (variant, group) of `wide`."""
    by, out = dict(list(wide.groupby(["variant", "group"], sort=True))), []
    for cid, kind, t, (a, b, num, den), window, regime, variants, prediction, predict in table:
        c = check(spec, cid, f"{a}/{b}" if b else a, estimators.windowed_ratio_text(a, b, *window), prediction, kind, t,
                  "adamw" if variants[0].startswith("Adam") else "sgd")
        out += checks.headline(c, [checks.equivalence(c, estimators.windowed_ratio(g, *window, num, den),
                                                      float(predict(g.iloc[0])), group=f"{v}: {grp}",
                                                      regime=settled(c, g, *regime))
                                   for (v, grp), g in by.items() if v in variants])
    return out
