"""Adaptive evidence: a report's runs are extended until its checks are decided, within a budget.

A check that comes out inconclusive says why (`checks.CAUSES`). Three causes name the evidence
that is missing, and each maps to one extension of the report's spec:

    regime not reached   steps × 2: the runs are longer (a claim's windows are fractions of its
                         run, so they move with it and start more relaxation times in); only
                         the runs of the optimizer `Needs.longer` names, when it names one
    few replicates       seeds × 2: new seeds after the largest, the old ones kept (also
                         asked by an ordering whose interval crosses its margin: a tie
                         inside the margin is final, `checks.ordering`); a claim that tunes
                         on named seeds (held out from scoring) keeps them, so every new
                         seed is a held-out one
    grid edge            the grid of `Needs.grid` (lr by default) one geometric step wider on
                         each side, in every optimizer table that lists it

A claim declares its `Budget`: how far steps and seeds may grow (a factor on the spec's own)
and how many points a grid may gain per side. `decide` renders round after round — run what is
missing, analyse, extend for the causes the headline checks give — until every headline is
decided or the budget cannot pay for what is asked. Extensions are runs like any other (cached by
config hash, batched), so a re-render redoes the same rounds and runs nothing. `Evidence` records
what was run and what was extended, for which checks, and whether the budget ran out: the ledger's
`steps`, `seeds`, `grid_points` and `extensions` columns. Quick mode and `toylab report --no-extend` never extend.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

EXTENDABLE = {"regime not reached": "steps", "few replicates": "seeds", "grid edge": "grid"}


@dataclass(frozen=True)
class Budget:
    """How far a claim lets the lab extend its runs: steps and seeds up to these factors of the
    spec's own, and up to `grid` points added to each side of a grid. The default extends nothing."""
    steps: float = 1.0
    seeds: float = 1.0
    grid: int = 0

    def __post_init__(self):
        if not (self.steps >= 1 and self.seeds >= 1 and isinstance(self.grid, int) and self.grid >= 0):
            raise ValueError(f"Budget(steps={self.steps!r}, seeds={self.seeds!r}, grid={self.grid!r}): "
                             "steps and seeds are factors ≥ 1, grid a count of points ≥ 0")


@dataclass
class Evidence:
    """What a report ran and how it got there: the steps of each optimizer's runs, the seeds, the
    grid points, and per check id the extensions made for it and the optimizer it names."""
    steps: dict[str, int]
    seeds: int
    grid_points: int
    made: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    longer: dict[str, str] = field(default_factory=dict)  # check id -> `Needs.longer`

    def column(self, check_id: str) -> str:
        return "; ".join(self.made.get(check_id.split("/")[0], []))

    def steps_of(self, check_id: str) -> int:
        """The longest run behind the check: of its optimizer's runs when it names one."""
        scope = self.longer.get(check_id.split("/")[0], "")
        return max(n for name, n in self.steps.items() if scope in ("", name))


def undecided(outcomes) -> dict[str, set[tuple[str, str]]]:
    """Per inconclusive headline check: the extensions its inconclusive groups (or itself) ask
    for, as (what, where) pairs: where is the grid's axis, or the optimizer whose runs are made
    longer ("" for all). A decided headline asks for nothing."""
    headlines = {o.check.id for o in outcomes if not o.group and o.verdict == "inconclusive"}
    wanted = defaultdict(set)
    for o in outcomes:
        if o.check.id in headlines and o.verdict == "inconclusive" and o.cause in EXTENDABLE:
            what = EXTENDABLE[o.cause]
            wanted[o.check.id].add((what, {"grid": o.check.needs.grid, "steps": o.check.needs.longer}.get(what, "")))
    return dict(wanted)


def _steps(spec, optimizer: str = "") -> int:
    """The longest run of the spec, or of one optimizer's runs."""
    return max(c.steps for c in spec.configs() if optimizer in ("", c.optimizer))


def _grid_points(spec, axis: str = "lr") -> int:
    return max((len(o[axis]) for o in spec.optimizers if isinstance(o.get(axis), list)), default=1)


def _wider(values: list, points: int) -> list:
    """The grid with `points` more values on each side, one geometric step (the grid's smallest
    ratio) apart; a grid of fewer than two positive values cannot be widened."""
    v = sorted(values)
    if len(v) < 2 or v[0] <= 0:
        return values
    ratio = min(b / a for a, b in zip(v, v[1:]))
    return [v[0] / ratio ** k for k in range(points, 0, -1)] + v + [v[-1] * ratio ** k for k in range(1, points + 1)]


def extended(spec, base, what: str, axis: str, budget: Budget):
    """The spec with one extension, or None when the budget cannot pay for it. `base` is the
    spec as declared: the budget's factors are on its steps and seeds. `axis`: the grid's, or
    the optimizer whose runs get longer ("" for all)."""
    if what == "steps":
        tables = [i for i, o in enumerate(spec.optimizers) if axis in ("", o["name"])]
        if not tables or any(2 * spec.longer.get(i, 1) > budget.steps for i in tables):
            return None
        return replace(spec, longer={**spec.longer, **{i: 2 * spec.longer.get(i, 1) for i in tables}})
    if what == "seeds":
        n = len(spec.seeds)
        if 2 * n > budget.seeds * len(base.seeds) * (1 + 1e-9):
            return None
        return replace(spec, seeds=[*spec.seeds, *range(max(spec.seeds) + 1, max(spec.seeds) + 1 + n)])
    added = (_grid_points(spec, axis) - _grid_points(base, axis)) // 2
    if added + 1 > budget.grid:
        return None
    optimizers = [{**o, axis: _wider(o[axis], 1)} if isinstance(o.get(axis), list) else o for o in spec.optimizers]
    return None if optimizers == spec.optimizers else replace(spec, optimizers=optimizers)


def _describe(what: str, old, new, axis: str) -> str:
    if what == "steps":
        return f"steps {_steps(old, axis)}→{_steps(new, axis)}" + (f" ({axis} runs)" if axis else "")
    if what == "seeds":
        return f"seeds {len(old.seeds)}→{len(new.seeds)}"
    return f"{axis} grid {_grid_points(old, axis)}→{_grid_points(new, axis)} points"


def decide(spec, render_round, budget: Budget, extend: bool = True):
    """Render `spec` (`render_round(spec) -> (configs, analysis)`), extending it while a headline
    check is inconclusive for a cause the budget can pay for (never when `extend` is false: quick
    mode, `--no-extend`). Returns (spec, configs, analysis, evidence) of the last round."""
    base, made = spec, defaultdict(list)
    while True:
        configs, result = render_round(spec)
        asks = defaultdict(list)  # (what, axis) -> the checks asking for it
        for check_id, needs in sorted((undecided(result.checks) if extend else {}).items()):
            for need in sorted(needs):
                asks[need].append(check_id)
        grown, denied = spec, []
        for (what, axis), ids in asks.items():
            wider = extended(grown, base, what, axis, budget)
            if wider is None:
                denied += [(check_id, what) for check_id in ids]
                continue
            for check_id in ids:
                made[check_id].append(f"{_describe(what, grown, wider, axis)} ({_cause(what)})")
            grown = wider
        if grown is spec:
            for check_id, what in denied:
                if _limit(budget, what):
                    made[check_id].append(f"budget spent: no further {what} (the claim allows {_limit(budget, what)})")
                else:
                    made[check_id].append(f"not extended: the claim declares no budget for {what}")
            steps = defaultdict(int)
            for c in configs:
                steps[c.optimizer] = max(steps[c.optimizer], c.steps)
            longer = {o.check.id: o.check.needs.longer for o in result.checks}
            return spec, configs, result, Evidence(steps, len(spec.seeds), _grid_points(spec), made, longer)
        spec = grown


def _cause(what: str) -> str:
    return next(cause for cause, w in EXTENDABLE.items() if w == what)


def _limit(budget: Budget, what: str) -> str:
    """What the budget allows for `what`, or "" when it allows nothing."""
    if {"steps": budget.steps == 1, "seeds": budget.seeds == 1, "grid": budget.grid == 0}[what]:
        return ""
    return {"steps": f"×{budget.steps:g} steps", "seeds": f"×{budget.seeds:g} seeds",
            "grid": f"{budget.grid} points per side"}[what]


def annotate(ledger, evidence: Evidence):
    """The report's ledger rows with what was run and the extensions made for each check."""
    return ledger.assign(steps=[evidence.steps_of(c) for c in ledger["check"]], seeds=evidence.seeds,
                         grid_points=evidence.grid_points,
                         extensions=[evidence.column(c) for c in ledger["check"]])

