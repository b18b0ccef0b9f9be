"""docs/claims.md C14 (003): the notepad's large-ε limit, nested moving average and β2 = 0 Adam.

Trajectory gap of two runs A, S with the same seed (same batches, θ₀ = 0): from the weights
probe, G = max over probe steps t of ‖θ_A,t − θ_S,t‖/‖θ_S,t‖ (one value per seed).

(a) Adam with a constant ε, lr = η_S·ε, no bias correction and m₀ = g₁, against SGD with
    momentum = dampening = β1 and lr η_S: the steps differ by √v̂/(√v̂ + ε) per coordinate
    (`theory.adam_large_eps_lr`), so G → 0 as 1/ε once ε ≫ √v̂.
(b) Nested EMA against Adam: the mean of the excess loss over the last 20 % of steps, at the lr
    of the spec's grid with the lowest mean log value, per β setting.
(c) Adam with β2 = 0 against torch's SGD with momentum: from the pair that matches in every
    term, each difference put back alone (normalisation by |g_t| + ε, dampening 0, coupled
    decay g + λθ, bias correction, zero init), and torch's defaults with all of them.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..checks import Check, bound, combine, equivalence, ordering
from .. import plotting
from . import Analysis, Figure, new_figure

# the spec's settings and their defaults (...: the spec must give it)
SETTINGS = {"huge_eps": ..., "rounding_bound": ..., "eps_gap_bound": ..., "margin": ..., "sgd_lr": ...}

LAST_FRACTION = 0.2


def _pair(value) -> tuple[float, float]:
    a, b = str(value).strip("()[] ").split(",")
    return float(a), float(b)


def label_runs(metrics: pd.DataFrame, huge_eps: float) -> pd.DataFrame:
    """One row per run with its part of the study: `part` ∈ {eps, nested, beta2, sgd} and a `variant`."""
    runs = metrics.drop_duplicates("run").set_index("run").copy()
    runs["beta1"], runs["beta2"] = np.nan, np.nan
    adam = runs["optimizer"] == "adamw"
    runs.loc[adam, "beta1"] = [_pair(b)[0] for b in runs.loc[adam, "betas"]]
    runs.loc[adam, "beta2"] = [_pair(b)[1] for b in runs.loc[adam, "betas"]]
    bc, zi = runs["bias_correction"].astype(bool), runs["zero_init"].astype(bool)
    sgd = runs["optimizer"] == "sgd"
    runs["part"], runs["variant"] = "", ""
    eps_grid = adam & (runs["beta2"] > 0) & ~bc & ~zi
    runs.loc[eps_grid, "part"] = "eps"
    runs.loc[eps_grid, "variant"] = runs.loc[eps_grid, "eps"].map(lambda e: f"adam eps={e:g}")
    scheduled = adam & runs.get("eps_schedule", pd.Series(index=runs.index, dtype=object)).notna()
    runs.loc[scheduled, "part"] = "eps-schedule"
    runs.loc[scheduled, "variant"] = np.where(runs.loc[scheduled, "eps_schedule"].str.startswith("epsilon"),
                                              "Adam, ε-scheduler", "Adam, ε = 1e-8")
    lr_matched = adam & runs.get("lr_schedule", pd.Series(index=runs.index, dtype=object)).notna()
    runs.loc[lr_matched, "part"] = "eps-schedule"
    runs.loc[lr_matched, "variant"] = "Adam, matched lr schedule"
    nested = adam & (runs["beta2"] > 0) & bc & zi & ~scheduled & ~lr_matched
    runs.loc[nested, "part"] = "nested"
    runs.loc[nested, "variant"] = np.where(runs.loc[nested, "nested_ema"].astype(bool), "nested EMA", "Adam")
    b2 = adam & (runs["beta2"] == 0)
    runs.loc[b2, "part"] = "beta2"
    big = np.isclose(runs["eps"], huge_eps)
    runs.loc[b2, "variant"] = [
        ("A eps=huge" if h else "A eps=small") + f" bc={int(c)} zi={int(z)}"
        for h, c, z in zip(big[b2], bc[b2], zi[b2])]
    runs.loc[sgd, "part"] = "sgd"
    runs.loc[sgd, "variant"] = [f"S tau={t:g} wd={w:g} decoupled={int(bool(dd))}" for t, w, dd in
                                zip(runs.loc[sgd, "dampening"], runs.loc[sgd, "weight_decay"], runs.loc[sgd, "decoupled_decay"])]
    return runs


def trajectories(weights: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """run → (steps, θ_t as [n_steps, d]) from the weights probe (one parameter)."""
    w = weights.sort_values(["run", "step", "index"])
    out = {}
    for run, g in w.groupby("run", sort=False):
        steps = np.sort(g["step"].unique())
        out[run] = (steps, g["value"].to_numpy(dtype=float).reshape(len(steps), -1))
    return out


def gaps(runs: pd.DataFrame, traj: dict, a: str, s: str) -> pd.Series:
    """Per seed, max_t ‖θ_A,t − θ_S,t‖/‖θ_S,t‖ between the runs labelled `a` and `s`; +inf where
    either diverged (a gap the data cannot bound)."""
    out = {}
    A = runs[runs["variant"] == a].reset_index().set_index("seed")
    S = runs[runs["variant"] == s].reset_index().set_index("seed")
    for seed in sorted(set(A.index) & set(S.index)):
        ra, rs = A.loc[seed, "run"], S.loc[seed, "run"]
        if A.loc[seed, "diverged"] or S.loc[seed, "diverged"]:
            out[seed] = np.inf
            continue
        (ta, xa), (ts, xs) = traj[ra], traj[rs]
        n = min(len(ta), len(ts))
        den = np.linalg.norm(xs[:n], axis=1)
        ok = den > 0
        out[seed] = float(np.max(np.linalg.norm(xa[:n] - xs[:n], axis=1)[ok] / den[ok]))
    return pd.Series(out, dtype=float)


def _gm(v: pd.Series) -> float:
    v = np.asarray(v, dtype=float)
    return float(np.exp(np.mean(np.log(v)))) if np.all(np.isfinite(v)) and np.all(v > 0) else (
        np.inf if np.any(~np.isfinite(v)) else 0.0)


def analyze(tables, spec) -> Analysis:
    huge, rounding = float(spec.settings["huge_eps"]), float(spec.settings["rounding_bound"])
    eps_bound, margin, sgd_lr = float(spec.settings["eps_gap_bound"]), float(spec.settings["margin"]), float(spec.settings["sgd_lr"])
    metrics = tables["metrics"]
    runs = label_runs(metrics, huge)
    traj = trajectories(tables["weights"])
    steps = int(metrics["step"].max())
    n_seeds = metrics["seed"].nunique()
    gap_est = f"max over probe steps 1–{steps} of ‖θ_A,t − θ_S,t‖/‖θ_S,t‖ per seed (same batches, θ₀ = 0)"
    outcomes, rows = [], []

    # ----- (a) large ε: Adam → SGD-momentum with lr η/ε
    eps_runs = runs[runs["part"] == "eps"]
    matched_sgd = "S tau=0.9 wd=0 decoupled=0"
    eps_values = sorted(eps_runs["eps"].unique())
    eps_gaps = {e: gaps(runs, traj, f"adam eps={e:g}", matched_sgd) for e in eps_values}
    for e in eps_values:
        g = eps_gaps[e]
        rows.append({"part": "(a) large ε", "A": f"Adam ε={e:g}, lr={e * float(sgd_lr):g}",
                     "S": "SGD μ=τ=0.9, lr=0.05", "gap (geo. mean)": _gm(g), "gap max": g.max()})
    eps_check = Check("C14", "C14-eps-sgd", "trajectory gap Adam(ε) vs SGD(lr η/ε)",
                      f"{gap_est}; Adam ε = {eps_values[-1]:g}, lr = η_S·ε, no bias correction, m₀ = g₁; "
                      f"SGD momentum = dampening = 0.9, lr η_S = {sgd_lr:g}; {n_seeds} seeds, float64",
                      "003: ε ≫ √v̂ makes the step (η/ε)·m̂ (gap → 0)", eps_bound, kind="seed")
    outcomes.append(bound(eps_check, eps_gaps[eps_values[-1]]))
    large = [e for e in eps_values if e >= 100]
    slope_check = Check("C14", "C14-eps-slope", "d log(gap)/d log ε",
                        f"per seed, least-squares slope of log gap against log ε over ε ∈ {{{', '.join(f'{e:g}' for e in large)}}} "
                        f"({gap_est}); {n_seeds} seeds", "gap ∝ √v̂/ε (theory.adam_large_eps_lr): slope −1", 0.05, kind="seed")
    if len(large) >= 2:
        slopes = pd.Series({s: np.polyfit(np.log(large), np.log([eps_gaps[e][s] for e in large]), 1)[0]
                            for s in eps_gaps[large[0]].index})
        outcomes.append(equivalence(slope_check, slopes, -1.0))

    loss = metrics[metrics["metric"] == "excess_loss"]
    start = steps * (1 - LAST_FRACTION)

    def final_loss(variant):
        r = runs[runs["variant"] == variant]
        v = loss[(loss["step"] >= start) & loss["run"].isin(r.index)].groupby("run")["value"].mean()
        v[r.loc[v.index, "diverged"].astype(bool)] = np.inf
        return pd.Series(v.to_numpy(), index=r.loc[v.index, "seed"].to_numpy()).sort_index()

    sched = runs[runs["part"] == "eps-schedule"]
    if len(sched):
        spec_eps = sched.loc[sched["variant"] == "Adam, ε-scheduler", "eps_schedule"].iloc[0]
        sched_check = Check("C14", "C14-eps-schedule", "final-loss ratio ε-scheduler / constant ε",
                            f"mean excess loss over steps {start:g}–{steps} per seed; Adam lr 0.05 with ε schedule "
                            f"`{spec_eps}` against ε = 1e-8; {n_seeds} seeds", "003: ending in the SGD regime "
                            "helps: ratio < 1", margin, kind="hypothesis")
        a, b = final_loss("Adam, ε-scheduler"), final_loss("Adam, ε = 1e-8")
        outcomes.append(ordering(sched_check, a, b))
        finals = {"Adam, ε-scheduler": a, "Adam, ε = 1e-8": b}
        if "Adam, matched lr schedule" in set(runs["variant"]):
            spec_lr = runs.loc[runs["variant"] == "Adam, matched lr schedule", "lr_schedule"].iloc[0]
            c = finals["Adam, matched lr schedule"] = final_loss("Adam, matched lr schedule")
            vs_lr = Check("C14", "C14-eps-vs-lr", "1 + log(final-loss ratio ε-scheduler / matched lr schedule)",
                          f"mean excess loss over steps {start:g}–{steps} per seed; the ε-scheduler against Adam "
                          f"(ε = 1e-8) with lr schedule `{spec_lr}`, the same step where √v̂ = sqrt_v; {n_seeds} seeds",
                          "003: growing ε acts like shrinking the lr: equal final loss, log ratio within ±margin",
                          margin, kind="hypothesis")
            log_ratio = np.log(a.to_numpy() / c.loc[a.index].to_numpy())
            outcomes.append(equivalence(vs_lr, 1 + log_ratio, 1.0))  # its relative error is the mean log ratio
        for name, v in finals.items():
            rows.append({"part": "(a) ε-scheduler", "A": name, "final loss (geo. mean)": _gm(v)})

    # ----- (c) β2 = 0 against SGD with momentum, one difference at a time
    matched_a, matched_s = "A eps=huge bc=0 zi=0", "S tau=0.9 wd=0.01 decoupled=1"
    # (ledger group, the difference put back, A, S)
    pairs = [("matched", "none (matched)", matched_a, matched_s),
             ("normalisation", "normalisation m̂/(|g_t| + ε)", "A eps=small bc=0 zi=0", matched_s),
             ("dampening", "dampening τ = 0 (torch default)", matched_a, "S tau=0 wd=0.01 decoupled=1"),
             ("coupled-decay", "coupled decay g + λθ (torch)", matched_a, "S tau=0.9 wd=0.01 decoupled=0"),
             ("bias-correction", "bias correction 1/(1 − β1^t)", "A eps=huge bc=1 zi=0", matched_s),
             ("zero-init", "zero init m₀ = 0", "A eps=huge bc=0 zi=1", matched_s),
             ("bias-correction+zero-init", "bias correction and zero init", "A eps=huge bc=1 zi=1", matched_s),
             ("torch-defaults", "all: torch AdamW(β2 = 0) vs torch SGD", "A eps=small bc=1 zi=1",
              "S tau=0 wd=0.01 decoupled=0")]
    b2_check = Check("C14", "C14-beta2-zero", "log10 trajectory gap Adam(β2 = 0) vs SGD-momentum",
                     f"{gap_est}; Adam β = (0.9, 0), ε = {huge:g} and lr = 0.05·ε (or ε = 1e-8, lr as the spec), "
                     f"decoupled ηλ = 5e-4; SGD μ = 0.9, lr 0.05, λ = 0.01; {n_seeds} seeds, float64",
                     "equal to rounding once every difference is removed: log10 of", float(np.log10(rounding)), kind="control")
    terms = Check("C14", "C14-beta2-terms", "gap ratio matched pair / one term back",
                  f"per seed, the ratio of the matched pair's gap to the gap with one term back ({gap_est}); "
                  f"{n_seeds} seeds, float64", "each term alone makes them differ: ratio < 10⁻³", float(np.log(1e3)), kind="seed")
    matched = gaps(runs, traj, matched_a, matched_s)
    b2, term_rows = [], []
    for slug, name, a, s in pairs:
        if a not in set(runs["variant"]) or s not in set(runs["variant"]):
            continue
        g = gaps(runs, traj, a, s)
        rows.append({"part": "(c) β2 = 0", "A": a, "S": s, "difference put back": name,
                     "gap (geo. mean)": _gm(g), "gap max": g.max()})
        if slug == "matched":
            b2.append(bound(b2_check, np.log10(g.clip(lower=1e-300))))
        else:
            term_rows.append(ordering(terms, matched.loc[g.index], g, group=slug))
    if term_rows:
        b2 += [combine(terms, term_rows), *term_rows]
    outcomes += b2

    # ----- (b) nested EMA vs Adam over β, each at its best lr
    nested = runs[runs["part"] == "nested"]
    nested_loss = loss[loss["run"].isin(nested.index)]
    window = nested_loss[nested_loss["step"] >= start].groupby("run")["value"].mean()
    f = nested.assign(value=window.reindex(nested.index))
    f.loc[f["diverged"].astype(bool), "value"] = np.inf
    f["log"] = np.log(f["value"])
    nest_check = Check("C14", "C14-nested-ema", "final-loss ratio nested EMA / Adam",
                       f"mean excess loss over steps {start:g}–{steps} per seed, each variant at the lr of "
                       f"{{{', '.join(f'{v:g}' for v in sorted(f['lr'].unique()))}}} with the lowest mean log "
                       f"(chosen on these seeds); {n_seeds} seeds", "003: the nested average as an improvement: "
                       "nested < Adam", margin, kind="hypothesis")
    groups, best_rows = [], []
    for betas, g in f.groupby("betas"):
        pick, edge = {}, []
        for variant, h in g.groupby("variant"):
            lr_best = h.groupby("lr")["log"].mean().idxmin()
            grid = sorted(h["lr"].unique())
            pick[variant] = h[h["lr"] == lr_best].set_index("seed")["value"]
            edge += [variant] if lr_best in (grid[0], grid[-1]) else []
            best_rows.append({"part": "(b) nested EMA", "A": variant, "S": f"β = ({betas})", "best lr": lr_best,
                              "at grid edge": lr_best in (grid[0], grid[-1]), "final loss (geo. mean)": _gm(pick[variant])})
        if {"nested EMA", "Adam"} <= set(pick):
            group = "betas=" + ":".join(f"{b:g}" for b in _pair(betas))
            o = ordering(nest_check, pick["nested EMA"], pick["Adam"], group=group)
            if edge:
                o = replace(o, verdict="inconclusive", reason=f"best lr at the grid edge for {', '.join(edge)}; {o.reason}")
            groups.append(o)
    if groups:
        outcomes += [combine(nest_check, groups), *groups]
    table = pd.DataFrame(rows + best_rows)

    numbers = {f"{o.check_id}": f"{o.verdict}: {o.measured:.3g} [{o.ci_low:.3g}, {o.ci_high:.3g}]"
               for o in outcomes if not o.group}
    numbers |= {f"(c) gap with only '{r['difference put back']}' different (geo. mean)": f"{r['gap (geo. mean)']:.3g}"
                for r in rows if r["part"] == "(c) β2 = 0"}
    verdict = " ".join(f"{o.check_id}: **{o.verdict}**." for o in outcomes if not o.group)

    # ----- figures
    fig, axes = new_figure(3, width=4.4)
    ax = axes[0][0]
    for e in eps_values:
        g = eps_gaps[e]
        ax.plot(np.full(len(g), e), g.clip(lower=1e-18), "o", color="C0", alpha=0.5, markersize=3)
    ax.plot(eps_values, [_gm(eps_gaps[e]) for e in eps_values], "-", color="C0", label="geometric mean over seeds")
    ax.axhline(eps_bound, color="0.5", linestyle=":", label="bound")
    ax.set(xscale="log", yscale="log", xlabel="Adam ε (lr = η_S·ε)", ylabel="trajectory gap to SGD-momentum",
           title="(a) large ε")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[0][2]
    names = [r["difference put back"] for r in rows if r["part"] == "(c) β2 = 0"]
    for i, (_, name, a, s) in enumerate(p for p in pairs if p[1] in names):
        g = gaps(runs, traj, a, s)
        finite = g[np.isfinite(g)]
        ax.plot(np.log10(finite.clip(lower=1e-18)), np.full(len(finite), i), "o", color="C1", alpha=0.6, markersize=3)
        if len(finite) < len(g):
            ax.plot([3], [i], "x", color="C3")
    ax.axvline(np.log10(rounding), color="0.5", linestyle=":")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set(xlabel="log10 trajectory gap (one point per seed; −18 = identical)",
           title="(c) β2 = 0 Adam vs SGD: one term back")
    ax = axes[0][1]
    curves = f.assign(setting=f["variant"] + " β=(" + f["betas"].astype(str) + ")")
    plotting.seed_band(ax, curves, "lr", "value", hue="setting", log=True, marker="o", markersize=3)
    ax.set(xscale="log", yscale="log", xlabel="lr", ylabel=f"excess loss, mean of last {LAST_FRACTION:.0%} of steps",
           title="(b) nested EMA vs Adam")
    plotting.legend(ax, fontsize=6, loc="upper left")
    return Analysis(
        figures=[Figure("notepad_ideas", fig, "(a) gap between Adam with a large constant ε (lr = η·ε) and SGD with "
                        "momentum = dampening = β1; (b) final excess loss against lr, geometric mean over seeds with a "
                        "band exp(mean ± 2 s.e.) of the log; (c) gap between β2 = 0 Adam and SGD when one term "
                        "differs (× = a diverged run).")],
        table=table, numbers=numbers, verdict=verdict, checks=outcomes,
        notes=["With β2 = 0, v̂_t = g_t², so Adam's step is η·m̂_t/(|g_t| + ε): momentum divided by the current "
               "gradient's magnitude, not SGD-momentum. The notepad names dampening and the decay coupling; the "
               "normalisation and the first step (bias correction, zero init) differ too.",
               "The ε-scheduler reaches the SGD regime only where ε(t) ≫ √v̂; its SGD lr is then η/ε(t), so moving "
               "ε is also an lr decay by ε(t)/ε₀ on the small-gradient coordinates (003's ε_t = (η−η_t)/η_t·√v + "
               "(η/η_t)ε makes an lr schedule per coordinate, `theory.epsilon_matching_lr`)."])
