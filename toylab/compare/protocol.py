"""The comparison protocol: tune on tuning seeds, score the tuned settings on held-out seeds.

1. Tuning runs: every setting (one config per problem of the family × optimizer ×
   hyperparameters) on every tuning seed — ordinary runs, batched and cached by config hash.
2. Per problem, the target y* (given, or `stats.derived_target` of the tuning runs), then per
   optimizer the tuned setting (`stats.tuning_key`), from the tuning seeds only.
3. Scoring runs: each tuned setting on the held-out seeds, which `Protocol.check` keeps
   disjoint from the tuning seeds.
4. Per problem, each optimizer's scores and every pair's paired ratios (steps to y*, final
   value); over the family, the performance profile of steps on (problem, held-out seed)
   instances. The rules are in `toylab/compare/stats.py`.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import optim, problems, store
from ..config import RunConfig
from ..engine import seed_generator
from ..experiments import run_configs
from ..options import Failure, UserError, format_value, warn
from . import stats

METRICS = ("loss", "excess_loss")
NAMED_VARIANTS = {"normuon": ("muon", {"normalize": "rows"})}  # a variant's name in the field: its optimizer, options
QUANTITIES = ("steps", "final")  # what the paired ratios compare: steps to y*, final value


@dataclass(frozen=True)
class Protocol:
    settings: tuple[RunConfig, ...]  # one per (problem options, optimizer, hyperparameters); seeds are set here
    tune_seeds: tuple[int, ...]
    score_seeds: tuple[int, ...]
    metric: str = "loss"
    target: float | None = None  # y*; None: derived from the tuning runs with target_factor
    target_factor: float = 2.0
    level: float = 0.95
    tau_max: float = 10.0

    def check(self) -> None:
        """A one-line `UserError` for input that cannot give a fair comparison, before any run."""
        shared = sorted(set(self.tune_seeds) & set(self.score_seeds))
        if shared:
            raise UserError(f"--tune-seeds and --score-seeds share seed(s) {', '.join(map(str, shared))}: "
                            f"the scored seeds must be held out from tuning")
        if len(self.score_seeds) < 2:
            raise UserError(f"--score-seeds {format_value(tuple(self.score_seeds))}: a paired interval needs "
                            f"at least 2 held-out seeds")
        if self.metric not in METRICS:
            raise UserError(f"--metric {self.metric!r} is not allowed; choose one of {', '.join(METRICS)}")
        if self.target is not None and not (self.target > 0 and math.isfinite(self.target)):
            raise UserError(f"--target {self.target:g} must be a finite number > 0")
        if not (self.target_factor >= 1 and math.isfinite(self.target_factor)):
            raise UserError(f"--target-factor {self.target_factor:g} must be a finite number >= 1 "
                            f"(the target is this times the best tuning value)")
        if not 0 < self.level < 1:
            raise UserError(f"--level {self.level:g} must lie strictly between 0 and 1")
        if not (self.tau_max > 1 and math.isfinite(self.tau_max)):
            raise UserError(f"--tau-max {self.tau_max:g} must be a finite number > 1")
        if len(self.optimizers) < 2:
            raise UserError(f"--optimizer {','.join(self.optimizers)}: a comparison needs at least two optimizers")
        for member in {options_key(c.problem_options): c for c in self.settings}.values():
            recorded = recorded_metrics(member.problem, member.problem_options)
            if self.metric not in recorded:
                raise UserError(f"--metric {self.metric}: {member.problem} does not record it; "
                                f"it records {', '.join(sorted(recorded))}")

    @property
    def optimizers(self) -> list[str]:
        """The compared optimizers' labels (`optimizer_label`), in the order of the settings."""
        return list(dict.fromkeys(optimizer_label(c.optimizer, c.resolve().hparams) for c in self.settings))


@dataclass
class Result:
    protocol: Protocol
    problem_label: str  # the problem and its fixed options, e.g. "linear_regression d=32 D=8"
    runs: pd.DataFrame  # one row per run: role, problem, optimizer, setting, lr, seed, steps, final, initial, …
    targets: dict[str, float]  # per problem (family member label)
    tuned: pd.DataFrame  # per (problem, optimizer): the tuned setting, its lr, at_edge, tuning misses
    scores: pd.DataFrame  # per (problem, optimizer): reached, n, median steps, final geometric mean [interval]
    pairs: pd.DataFrame  # per (problem, quantity, a, b): the `stats.Paired` fields
    profile: pd.DataFrame  # optimizer, tau, rho
    curves: pd.DataFrame  # the scoring runs' metric over steps, for the figure


def options_key(options: dict) -> str:
    """A hashable key of a dict of problem options."""
    return repr(sorted(options.items()))


def optimizer_label(name: str, hparams) -> str:
    """The optimizer as a comparison names it. Settings of one optimizer that differ in a static
    option (a different program, not a different number: Muon's orthogonalizer, NorMuon's
    normalize) are different optimizers, never tuned against each other: the name, then each
    static option that differs from its default as `k=v`, a `NAMED_VARIANTS` entry's options
    replaced by its name (muon with normalize=rows: "normuon"). `hparams`: a dict, or a row of a
    report's table (options as columns)."""
    declared = optim.get(name).hparams
    variant = {k: hparams[k] for k, o in declared.items() if o.static and _text(hparams[k]) != _text(o.default)}
    for label, (base, options) in NAMED_VARIANTS.items():
        if base == name and all(k in variant and _text(variant[k]) == _text(v) for k, v in options.items()):
            name, variant = label, {k: v for k, v in variant.items() if k not in options}
    return " ".join([name, *(f"{k}={_text(v)}" for k, v in variant.items())])


def optimizer_labels(runs: pd.DataFrame) -> pd.Series:
    """`optimizer_label` of each run of a table with the runs' config columns (`optimizer`, options)."""
    return pd.Series([optimizer_label(r["optimizer"], r) for r in runs.to_dict("records")], index=runs.index)


def recorded_metrics(problem: str, options: dict) -> set[str]:
    """The metric names `problem` records, from one evaluation at its initial point (cheap)."""
    built = problems.build(problem, options)
    data = built.make_data(seed_generator(0, "data", torch.device("cpu")))
    params = {k: v[None] for k, v in built.init_params(seed_generator(0, "init", torch.device("cpu"))).items()}
    return set(built.metrics(params, data))


# ----- running ----------------------------------------------------------------------------------
def run(protocol: Protocol, out: Path, device: str = "auto", force: bool = False) -> Result:
    """Steps 1–4 of the module docstring."""
    protocol.check()
    settings = [c.resolve() for c in protocol.settings]
    members = _member_labels(settings)
    tune_configs = run_configs(_seeded(settings, protocol.tune_seeds), out, device, force, progress=True)
    tuning, tuning_rows = _outcomes(out, tune_configs, protocol.metric, members)
    targets = _targets(tuning, protocol.target, protocol.target_factor)
    tuning["steps_to_target"] = _steps_to_target(tuning, tuning_rows, targets)
    tuned = _tune(tuning)
    by_setting = {(members[options_key(c.problem_options)], optimizer_label(c.optimizer, c.hparams), c.label()): c
                  for c in settings}
    chosen = [by_setting[(p, o, s)] for (p, o), s in tuned["setting"].items()]
    score_configs = run_configs(_seeded(chosen, protocol.score_seeds), out, device, force, progress=True)
    scoring, scoring_rows = _outcomes(out, score_configs, protocol.metric, members)
    scoring["steps_to_target"] = _steps_to_target(scoring, scoring_rows, targets)
    runs = pd.concat([tuning.assign(role="tune"), scoring.assign(role="score")], ignore_index=True)
    runs["tuned"] = [tuned.at[(p, o), "setting"] == s for p, o, s in zip(runs["problem"], runs["optimizer"],
                                                                          runs["setting"])]
    return Result(protocol, _fixed_label(settings), runs, targets, tuned.reset_index(), _scores(scoring, protocol),
                  _pairs(scoring, protocol), _profile(scoring, protocol),
                  scoring_rows.join(scoring.set_index("run")[["problem", "optimizer", "seed", "diverged"]], on="run"))


def held_out(runs: pd.DataFrame, rows: pd.DataFrame, tune_seeds, target: float | None = None,
             target_factor: float = 2.0) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Steps 2–3 on runs already made for every setting on every seed (a report's sweep), so the
    same rules pick the same settings. `runs`: one row per run (run, problem, optimizer, setting,
    lr, seed, budget, final: ∞ when diverged); `rows`: its metric (run, step, value). Returns the
    targets, the tuned settings (from the runs on `tune_seeds` only) and `runs` with
    `steps_to_target`, `tuned` (the run is of its optimizer's tuned setting) and `role` (tune or score)."""
    runs = runs.assign(role=np.where(runs["seed"].isin(tune_seeds), "tune", "score"))
    targets = _targets(runs[runs["role"] == "tune"], target, target_factor)
    runs["steps_to_target"] = _steps_to_target(runs, rows, targets)
    tuned = _tune(runs[runs["role"] == "tune"])
    runs["tuned"] = [tuned.at[(p, o), "setting"] == s for p, o, s in zip(runs["problem"], runs["optimizer"],
                                                                          runs["setting"])]
    return targets, tuned.reset_index(), runs


def _targets(tuning: pd.DataFrame, target: float | None, factor: float) -> dict[str, float]:
    """Per problem y*: `target`, or `stats.derived_target` of its tuning runs; a `Failure` when
    it cannot be derived."""
    targets = {p: target if target is not None else
               stats.derived_target([g["final"] for _, g in frame.groupby("setting", sort=False)], factor)
               for p, frame in tuning.groupby("problem", sort=False)}
    lost = [p for p, value in targets.items() if math.isnan(value)]
    if lost:
        raise Failure(f"on {lost[0]} every setting diverged on some tuning seed: no target can be derived "
                      f"from them; give --target")
    return targets


def _seeded(configs: list[RunConfig], seeds) -> list[RunConfig]:
    return [dataclasses.replace(c, seed=s) for c in configs for s in seeds]


def _member_labels(settings: list[RunConfig]) -> dict[str, str]:
    """Each family member's label: its problem options that vary over the family, `k=v`
    (the problem's name when none vary)."""
    options = {options_key(c.problem_options): c.problem_options for c in settings}
    varying = [k for k in settings[0].problem_options if len({repr(o[k]) for o in options.values()}) > 1]
    return {key: " ".join(f"{k}={_text(o[k])}" for k in varying) or settings[0].problem
            for key, o in options.items()}


def _fixed_label(settings: list[RunConfig]) -> str:
    """The problem with the options that differ from their defaults and are the same for all."""
    declared = problems.get(settings[0].problem).options()
    fixed = [k for k, v in settings[0].problem_options.items()
             if v != declared[k].default and all(c.problem_options[k] == v for c in settings)]
    return " ".join([settings[0].problem, *(f"{k}={_text(settings[0].problem_options[k])}" for k in fixed)])


def _hparams_label(config: RunConfig) -> str:
    """The lr and the hyperparameters that differ from their defaults, `k=v`, numbers to 6 digits."""
    declared = optim.get(config.optimizer).hparams
    return " ".join(f"{k}={_text(v)}" for k, v in config.hparams.items() if k == "lr" or v != declared[k].default)


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else format_value(value)


def _outcomes(out: Path, configs: list[RunConfig], metric: str, members: dict[str, str]):
    """(one row per run: run, problem, optimizer, setting, lr, seed, budget, final, initial,
    diverged; the runs' `metric` rows: run, step, value). `final` is ∞ for a diverged run."""
    rows = store.load_table(out, configs)
    missing = sorted({c.hash() for c in configs} - set(rows.get("run", ())))
    if missing:
        raise Failure(f"{len(missing)} of {len(configs)} runs have no readable metrics: {', '.join(missing[:5])}")
    rows = rows[rows["metric"] == metric].sort_values(["run", "step"])[["run", "step", "value", "diverged"]]
    ends = rows.groupby("run", sort=False)["value"].agg(["first", "last"])
    diverged = rows.groupby("run", sort=False)["diverged"].first()
    table = pd.DataFrame([{"run": c.hash(), "problem": members[options_key(c.problem_options)],
                           "optimizer": optimizer_label(c.optimizer, c.hparams), "setting": c.label(),
                           "hparams": _hparams_label(c),
                           "lr": c.hparams["lr"], "seed": c.seed, "budget": c.steps} for c in configs])
    table["initial"] = table["run"].map(ends["first"])
    table["diverged"] = table["run"].map(diverged).astype(bool)
    final = table["run"].map(ends["last"])
    table["final"] = final.where(np.isfinite(final) & ~table["diverged"], np.inf)
    return table, rows.drop(columns="diverged")


def _steps_to_target(table: pd.DataFrame, rows: pd.DataFrame, targets: dict[str, float]) -> list[float]:
    target = dict(zip(table["run"], table["problem"].map(targets)))
    by_run = {run: stats.steps_to_target(g["step"], g["value"], target[run]) for run, g in rows.groupby("run")}
    return [by_run[r] for r in table["run"]]


def _tune(tuning: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, optimizer): the tuned setting (`stats.tuning_key` over its tuning seeds,
    settings in grid order), its lr, whether that lr is an edge of the lr grid, and how many
    tuning seeds missed the target."""
    rows = []
    for (problem, optimizer), runs in tuning.groupby(["problem", "optimizer"], sort=False):
        settings = list(runs.groupby("setting", sort=False))
        keys = [stats.tuning_key(g["steps_to_target"], g["final"], g["budget"].iloc[0]) for _, g in settings]
        setting, best = settings[stats.pick(keys)]
        lrs = runs["lr"].unique()
        rows.append({"problem": problem, "optimizer": optimizer, "setting": setting, "lr": best["lr"].iloc[0],
                     "at_edge": len(lrs) > 1 and best["lr"].iloc[0] in (lrs.min(), lrs.max()),
                     "tune_missed": int((~np.isfinite(best["steps_to_target"])).sum()), "tune_seeds": len(best)})
    tuned = pd.DataFrame(rows).set_index(["problem", "optimizer"])
    for (problem, optimizer), row in tuned[tuned["at_edge"]].iterrows():
        warn(f"the tuned lr of {optimizer} on {problem} ({row['lr']:g}) is at the edge of the lr grid: "
             f"the optimum may lie outside it")
    return tuned


# ----- scoring ---------------------------------------------------------------------------------
def _scores(scoring: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Per (problem, optimizer) on the held-out seeds: the setting, seeds, seeds reaching the
    target, median steps (∞ when half or more miss), the final value's geometric mean with
    its interval over the seeds that did not diverge, and the seeds that diverged."""
    rows = []
    for (problem, optimizer), runs in scoring.groupby(["problem", "optimizer"], sort=False):
        final = stats.geometric_interval(runs["final"], protocol.level)
        rows.append({"problem": problem, "optimizer": optimizer, "setting": runs["setting"].iloc[0],
                     "hparams": runs["hparams"].iloc[0],
                     "seeds": len(runs), "reached": int(np.isfinite(runs["steps_to_target"]).sum()),
                     "median_steps": float(np.median(runs["steps_to_target"])),
                     "final": final[0], "final_low": final[1], "final_high": final[2],
                     "diverged": int(runs["diverged"].sum())})
    return pd.DataFrame(rows)


def _pairs(scoring: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Per problem, quantity and pair (a, b) in the order of --optimizer: `stats.paired_ratio`
    over the held-out seeds (steps capped at the budget, final values at the initial value)."""
    rows = []
    for problem, runs in scoring.groupby("problem", sort=False):
        wide = runs.pivot(index="seed", columns="optimizer")
        budget = runs["budget"].iloc[0]
        for a, b in itertools.combinations(protocol.optimizers, 2):
            for quantity in QUANTITIES:
                if quantity == "steps":
                    paired = stats.paired_ratio(wide["steps_to_target", a], wide["steps_to_target", b], budget,
                                                budget, protocol.level, at_least=1.0)
                else:
                    paired = stats.paired_ratio(wide["final", a], wide["final", b], wide["initial", a],
                                                wide["initial", b], protocol.level)
                rows.append({"problem": problem, "quantity": quantity, "a": a, "b": b,
                             **dataclasses.asdict(paired)})
    return pd.DataFrame(rows)


def _profile(scoring: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """ρ_o(τ) over the (problem, held-out seed) instances, at τ = 1, every ratio in (1, τ_max]
    where some ρ jumps, and τ_max."""
    steps = scoring.pivot(index=["problem", "seed"], columns="optimizer", values="steps_to_target")
    steps = steps[protocol.optimizers].to_numpy()
    ratios = stats.performance_ratios(steps)
    taus = np.unique(np.concatenate([[1.0, protocol.tau_max], ratios[(ratios > 1) & (ratios <= protocol.tau_max)]]))
    rho = stats.performance_profile(steps, taus)
    return pd.DataFrame({"optimizer": np.repeat(protocol.optimizers, len(taus)),
                         "tau": np.tile(taus, len(protocol.optimizers)), "rho": rho.T.ravel(), "instances": len(steps)})
