"""What `toylab compare` prints and writes: the table with its stated rules, a figure (held-out
curves of the tuned settings with the target, and the performance profile), a tidy CSV of
every run and a JSON of everything."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import plotting  # noqa: E402
from ..options import format_value  # noqa: E402
from .protocol import Result  # noqa: E402

TARGET = dict(linestyle=":", color="0.25", linewidth=1.4)
VERBS = {"steps": ("faster", "missed"), "final": ("lower", "diverged")}


def _g(x: float) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _seeds(seeds) -> str:
    seeds = sorted(seeds)
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2 \
        else format_value(tuple(seeds))


def _pct(level: float) -> str:
    return f"{100 * level:g} %"


# ----- the table --------------------------------------------------------------------------------
def text(result: Result) -> str:
    """The whole printout: protocol, per problem its target, scores and pairs, the profile, the rules."""
    p, runs = result.protocol, result.runs
    tune = runs[runs["role"] == "tune"]
    budget = int(runs["budget"].iloc[0])
    lrs = sorted(tune["lr"].unique())
    lines = [f"{result.problem_label}: {', '.join(p.optimizers)}; {budget} steps; metric {p.metric}",
             f"tuned on seeds {_seeds(p.tune_seeds)} over {tune.groupby('optimizer')['setting'].nunique().max()} "
             f"settings per optimizer (lr {_g(lrs[0])} … {_g(lrs[-1])}, {len(lrs)} values); "
             f"scored on held-out seeds {_seeds(p.score_seeds)}"]
    for problem, scores in result.scores.groupby("problem", sort=False):
        lines += ["", f"[{problem}] target: {p.metric} ≤ {_g(result.targets[problem])} ({_target_rule(result)})",
                  _indent(_score_table(result, problem, scores)), _indent(_pair_table(result, problem))]
    lines += ["", _profile_table(result), "", _rules(result, budget)]
    return "\n".join(lines)


def _target_rule(result: Result) -> str:
    p = result.protocol
    if p.target is not None:
        return "given"
    return f"{p.target_factor:g} × the smallest geometric-mean final value of any setting on the tuning seeds"


def _indent(block: str) -> str:
    return "\n".join("  " + line for line in block.splitlines())


def _score_table(result: Result, problem: str, scores: pd.DataFrame) -> str:
    tuned = result.tuned.set_index(["problem", "optimizer"])
    budget = int(result.runs["budget"].iloc[0])
    shown = pd.DataFrame({
        "optimizer": scores["optimizer"],
        "tuned": [s + (" (lr at grid edge)" if tuned.at[(problem, o), "at_edge"] else "")
                  for o, s in zip(scores["optimizer"], scores["hparams"])],
        "reached": [f"{r}/{n}" for r, n in zip(scores["reached"], scores["seeds"])],
        "median steps": [f"{m:g}" if math.isfinite(m) else f"> {budget}" for m in scores["median_steps"]],
        f"final {result.protocol.metric}: geo. mean [{_pct(result.protocol.level)} CI]":
            [f"{_g(m)} [{_g(lo)}, {_g(hi)}]" for m, lo, hi in zip(scores["final"], scores["final_low"],
                                                                  scores["final_high"])],
        "diverged": scores["diverged"],
    })
    missed = tuned.loc[problem]
    missed = missed[missed["tune_missed"] == missed["tune_seeds"]].index.tolist()
    note = (f"\n{', '.join(missed)}: no tuning seed reached the target, so tuned by final value" if missed else "")
    return shown.to_string(index=False) + note


def _pair_table(result: Result, problem: str) -> str:
    pairs = result.pairs[result.pairs["problem"] == problem]
    rows = {}
    for _, r in pairs.iterrows():
        row = rows.setdefault((r["a"], r["b"]), {"pair A/B": f"{r['a']}/{r['b']}"})
        name = {"steps": "steps ratio", "final": "final ratio"}[r["quantity"]]
        row[name] = f"{_bound(r)}{_g(r['ratio'])} [{_g(r['low'])}, {_g(r['high'])}] n={r['n']}"
        row[f"{r['quantity']}: verdict"] = verdict(r)
    return pd.DataFrame(list(rows.values())).to_string(index=False)


def _bound(pair) -> str:
    """'≥ ' when only A has lost runs among the seeds (its caps understate it: the true ratio is
    at least this), '≤ ' when only B has, '~ ' when both have."""
    marks = {(True, False): "≥ ", (False, True): "≤ ", (True, True): "~ "}
    return marks.get((pair["a_lost"] > 0, pair["b_lost"] > 0), "")


def verdict(pair) -> str:
    """The verdict of one row of `Result.pairs` in words."""
    better, lost = VERBS[pair["quantity"]]
    if pair["verdict"] in ("a", "b"):
        return f"{pair[pair['verdict']]} {better}"
    if pair["verdict"] == "tied":
        return "tied"
    if pair["n"] == 0:
        return f"unresolved: both {lost} on every seed"
    if pair["n"] == 1:
        return f"unresolved: both {lost} on all seeds but one"
    favoured = pair["a"] if pair["high"] < 1 else pair["b"]
    count = pair["a_lost"] if favoured == pair["a"] else pair["b_lost"]
    return f"unresolved: {favoured} {lost} on {count} seed(s)"


def _profile_table(result: Result) -> str:
    prof, p = result.profile, result.protocol
    taus = sorted({1.0, min(2.0, p.tau_max), p.tau_max})
    shown = pd.DataFrame({"optimizer": p.optimizers})
    for tau in taus:
        shown[f"ρ({tau:g})"] = [prof[(prof["optimizer"] == o) & (prof["tau"] <= tau)]["rho"].iloc[-1]
                                for o in p.optimizers]
    score = result.runs[result.runs["role"] == "score"]
    shown["ρ(∞): reached"] = [np.isfinite(score[score["optimizer"] == o]["steps_to_target"]).mean()
                              for o in p.optimizers]
    instances = int(prof["instances"].iloc[0])
    head = (f"performance profile over {instances} instances ({score['problem'].nunique()} problem(s) × "
            f"{len(p.score_seeds)} held-out seeds): share of instances reached within τ × the fastest")
    return head + "\n" + _indent(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


def _rules(result: Result, budget: int) -> str:
    p = result.protocol
    pairs = math.comb(len(p.optimizers), 2)
    return "\n".join([
        "How to read it:",
        f"* steps: the first recorded step (every {p.settings[0].metric_every} steps) at which {p.metric} ≤ the "
        f"target; a run that never reaches it within {budget} steps is censored: it counts as {budget} in ratios, and its median is '> {budget}' when "
        f"half or more of the seeds miss.",
        f"* tuning, on the tuning seeds only: per optimizer the setting with no diverged seed, then the fewest "
        f"seeds missing the target, then the fewest steps (geometric mean), then the lowest final value; the "
        f"held-out seeds are never seen by tuning.",
        f"* pair A/B: the geometric mean over held-out seeds of A's value / B's (the same seed gives both the "
        f"same instance and batches), with its {_pct(p.level)} t-interval, over the seeds where at least one "
        f"reached the target (final value: did not diverge). A beats B when the interval lies below 1 and A "
        f"missed (diverged) on none of those seeds, since a ratio resting on A's cap would flatter A; 'tied': "
        f"the interval contains 1; 'unresolved': it excludes 1 but the favoured side missed somewhere, or "
        f"fewer than 2 seeds. A diverged run's final value counts as its initial value. '≥': A missed on some "
        f"seeds, so the true ratio is at least the one shown ('≤': B did; '~': both). The level is per "
        f"comparison, not corrected for the {pairs} pair(s) per problem.",
        "* ρ(τ) (Dolan–Moré): the share of (problem, held-out seed) instances an optimizer reaches within "
        "τ × the steps of the fastest optimizer on that instance; ρ(1): reached first (ties count for each).",
    ])


# ----- files --------------------------------------------------------------------------------------
def write(result: Result, save: Path) -> list[Path]:
    """The figure at `save`, the runs' table at `save` with .csv and everything at .json."""
    save.parent.mkdir(parents=True, exist_ok=True)
    fig = figure(result)
    fig.savefig(save, dpi=120, bbox_inches="tight", metadata={"Software": None} if save.suffix == ".png" else None)
    plt.close(fig)
    csv, js = save.with_suffix(".csv"), save.with_suffix(".json")
    result.runs.to_csv(csv, index=False)
    js.write_text(json.dumps(document(result), indent=1) + "\n")
    return [save, csv, js]


def document(result: Result) -> dict:
    """Everything as JSON-ready data; ∞ (missed, diverged) is written as null."""
    p = result.protocol

    def records(frame: pd.DataFrame) -> list:
        return json.loads(frame.to_json(orient="records", double_precision=15))

    return {"problem": result.problem_label, "optimizers": p.optimizers, "metric": p.metric,
            "tune_seeds": list(p.tune_seeds), "score_seeds": list(p.score_seeds),
            "target": {"given": p.target, "factor": None if p.target is not None else p.target_factor,
                       "rule": _target_rule(result), "per_problem": result.targets},
            "level": p.level, "tau_max": p.tau_max, "rules": _rules(result, int(result.runs["budget"].iloc[0])),
            "tuned": records(result.tuned), "scores": records(result.scores),
            "pairs": records(result.pairs.assign(verdict_text=[verdict(r) for _, r in result.pairs.iterrows()])),
            "profile": records(result.profile)}


# ----- the figure ---------------------------------------------------------------------------------
def figure(result: Result) -> plt.Figure:
    """One panel per problem: the metric over steps of each tuned setting on the held-out seeds
    (geometric mean ×/÷ 2 s.e. bands, `plotting.seed_band`) with the target dotted; then the
    performance profile ρ(τ) on a log τ axis. One colour per optimizer (`plotting.palette`)."""
    p, curves = result.protocol, result.curves
    problems_ = list(result.targets)
    n = len(problems_) + 1
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    axes = axes.ravel()
    for ax, problem in zip(axes, problems_):
        part = curves[curves["problem"] == problem]
        plotting.seed_band(ax, part, "step", "value", hue="optimizer", log=True)
        ax.axhline(result.targets[problem], label="target", **TARGET)
        ax.set(title=problem, xlabel="step", ylabel=f"{p.metric} (held-out seeds)")
        plotting.legend(ax, fontsize=8)
    ax = axes[len(problems_)]
    colors = plotting.palette(p.optimizers)
    for name in plotting.order(p.optimizers):
        prof = result.profile[result.profile["optimizer"] == name]
        ax.step(prof["tau"], prof["rho"], where="post", color=colors[name], label=name)
    instances = int(result.profile["instances"].iloc[0])
    ax.set(xscale="log", xlim=(1, p.tau_max), ylim=(-0.03, 1.03), xlabel="τ (steps / fastest)",
           ylabel="ρ(τ): share of instances", title=f"performance profile ({instances} instances)")
    plotting.legend(ax, fontsize=8)
    for extra in axes[n:]:
        extra.set_visible(False)
    fig.tight_layout()
    return fig
