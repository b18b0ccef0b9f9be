"""The check layer: the one place that decides a verdict, a best point, a final value and a headline.

A `Check` declares a claim: what is measured, by which estimator, against which prediction, with
which tolerance, how its groups combine into a headline, and what deciding it needs. An analysis
computes one value per independent replicate (a seed, or an i.i.d. block of coordinates) for one
*group* of runs that may be pooled (equal hyperparameters); one of the three kinds of claim turns
them into an `Outcome`, with the interval x̄ ± t_{(1+level)/2, n−1}·s/√n over the replicates:

    equivalence(check, values, predicted)   measured = predicted within ±tolerance, relative
                                            (e = x̄/predicted − 1) or absolute (e = x̄ − predicted):
                                            holds when the whole interval of e is inside, fails
                                            when it is wholly outside, else inconclusive (straddles)
    ordering(check, a, b)                   "a beats b by the margin m = tolerance", paired over
                                            seeds, r_s = log(a_s/b_s): holds when the interval of r̄
                                            lies below −m, fails when it lies above +m (b beats a
                                            by the margin), else inconclusive: "tied" when it lies
                                            within [−m, m], "few replicates" when it crosses ±m
    bound(check, values, upper)             x ≤ upper: holds when the whole interval is below it,
                                            fails when it is wholly above, else inconclusive
    best_on_grid(check, frame, over, accept)  the best point of a grid lies in `accept`: holds when
                                            it and every point tied with it do, fails when none
                                            does, inconclusive when they straddle or the best
                                            sits at the grid's edge

`best_points` is the one rule for the best point of a grid per group, paired over seeds (used by
`toylab plot` and every analysis; `best_flags`, its best without the tie test, flags the lr grid in
`toylab summary`'s table; `at_best` selects the runs there,
`ordering_at_best` compares two of them and `tuned` takes each seed's value at a tuned setting);
`final_values` the one rule for a run's final value and for a diverged run. `combine` makes the
headline of a check over its groups with the rule the check declares (`all`, `any`, or a count):
the headline quotes the numbers, interval and reason of the group that decides it, after the
per-group pattern ("holds in 1 of 3 groups: …").

An inconclusive outcome says why in `cause` (`CAUSES`), as data: the interval straddles the
boundary; too few replicates (fewer than two, an interval wider than the check needs, or an
ordering's interval that crosses its margin); the runs did not reach the claim's regime (`Regime`:
`stationarity`, `relaxed`); the best point sits at a grid edge; the compared values are tied; or
a premise of the prediction fails on the problem itself (a `Regime` with that cause), which no
longer or wider run can change.
The tie rule: an ordering whose interval lies within the margin band [−m, m] is a tie, and final
(the two are equal within the margin); one whose interval crosses −m or +m is `few replicates`,
since more seeds could move it to one side (at m = 0 only identical values tie). `Needs` declares what deciding a check takes,
each need mapped to the cause it raises when missing (more steps, more seeds, a wider grid).
`orderings`, `orderings_at_best` and `equivalences` apply a claim to every group of a table.
`Outcome.row` is one row of the claims ledger (`reports/claims.csv`), `Outcome.sentence` the
verdict as a report prints it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .estimators import window

VERDICTS = ("holds", "fails", "inconclusive")
KINDS = ("seed", "hypothesis", "control")  # whose claim: a seed document's, the lab's own question, a machinery check
CAUSES = ("straddles", "few replicates", "regime not reached", "grid edge", "tied", "premise not met")
LEDGER_COLUMNS = ("claim", "check", "kind", "report", "quantity", "predicted", "measured", "ci_low", "ci_high",
                  "rel_error", "tolerance", "verdict", "cause", "decided_by", "reason", "estimator", "n_seeds",
                  "steps", "seeds", "grid_points", "extensions")  # the last four: what was run (`toylab.evidence`)
EXPLODE = 1e3  # a final value above EXPLODE × |the run's first recorded value|: it blew up without overflowing


@dataclass(frozen=True)
class Needs:
    """What deciding a check needs. A need that is not met makes the outcome inconclusive with the
    cause that says what to extend: steps (`regime not reached`), seeds (`few replicates`), the
    grid (`grid edge`)."""
    relaxation_times: float = 0.0  # the window starts this many relaxation times in (`relaxed`)
    drift: float = math.inf  # |drift between the window's halves| ≤ drift × tolerance (`stationarity`)
    width: float = math.inf  # an interval that straddles and is wider than width × tolerance: few replicates
    interior: bool = True  # a best grid point at the grid's edge decides nothing (`best_on_grid`)
    grid: str = "lr"  # the hyperparameter whose grid is widened when the best sits at its edge
    longer: str = ""  # the optimizer whose runs are made longer when the regime is not reached (default: all)


@dataclass(frozen=True)
class Check:
    claim: str  # "C1" … "C14" (docs/claims.md)
    id: str  # stable ledger id, e.g. "C1-bc"
    quantity: str  # what is measured, e.g. "RMS(m̂/(√v̂+ε))"
    estimator: str  # how one replicate's value is formed, e.g. "mean over steps 5000–10000"
    prediction: str  # the closed form or statement, e.g. "√((1−β1)/(1+β1)), eq. 3"
    tolerance: float  # ±e for `equivalence`, the level for `bound`, the log-ratio margin for `ordering`
    level: float = 0.95  # confidence level of the interval
    replicates: str = "seeds"  # what the interval is over, e.g. "blocks of 1000 coordinates"
    combine: str | int = "all"  # the headline over groups: all hold, any holds, or at least this many
    needs: Needs = field(default_factory=Needs)
    kind: str = ""  # one of KINDS: a claim a seed document makes (`prediction` names its equation), a
    #                 hypothesis of the lab's own, or a control (meant to fail, or an identity)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.id}: kind={self.kind!r} is not allowed; use one of {', '.join(KINDS)}")
        rule = self.combine
        if not (rule in ("all", "any") or (isinstance(rule, int) and not isinstance(rule, bool) and rule >= 1)):
            raise ValueError(f"{self.id}: combine={rule!r} is not allowed; use 'all', 'any' or a count ≥ 1")


@dataclass(frozen=True)
class Regime:
    """Whether the runs reached what the claim needs, the test that says so, and the cause if not."""
    reached: bool
    test: str
    cause: str = "regime not reached"

    def __and__(self, other: Regime) -> Regime:
        first = self if not self.reached else other
        return Regime(self.reached and other.reached, f"{self.test}; {other.test}", first.cause)


@dataclass(frozen=True)
class Outcome:
    check: Check
    group: str  # what was held equal among the pooled runs; "" for the headline row
    predicted: float
    measured: float
    ci_low: float
    ci_high: float
    rel_error: float  # the signed error (equivalence) or ratio − 1 (ordering); NaN where none applies
    verdict: str
    reason: str  # one sentence: why this verdict
    n: int  # replicates (seeds) behind the interval
    cause: str = ""  # why it is inconclusive, one of CAUSES; "" when decided
    clearance: float = math.nan  # how far the interval clears the boundary of its verdict (combine ranks by it)
    decided_by: str = ""  # headline rows: the group whose numbers they quote

    @property
    def check_id(self) -> str:
        return self.check.id + (f"/{self.group}" if self.group else "")

    def row(self, report: str) -> dict:
        """One row of the claims ledger."""
        return {"claim": self.check.claim, "check": self.check_id, "kind": self.check.kind, "report": report,
                "quantity": self.check.quantity, "predicted": self.predicted, "measured": self.measured,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "rel_error": self.rel_error,
                "tolerance": self.check.tolerance, "verdict": self.verdict, "cause": self.cause,
                "decided_by": self.decided_by, "reason": self.reason, "estimator": self.check.estimator,
                "n_seeds": self.n, "steps": math.nan, "seeds": math.nan, "grid_points": math.nan, "extensions": ""}

    def sentence(self) -> str:
        """`**holds** (C1-bc): RMS(u) = 0.2294 [0.2291, 0.2297] … — reason.` for report.md."""
        where = f" [{self.group}]" if self.group else ""
        why = f" ({self.cause})" if self.cause else ""
        pct = int(round(100 * self.check.level))
        return (f"**{self.verdict}**{why} ({self.check_id}{where}): {self.check.quantity} = {_g(self.measured)} "
                f"[{_g(self.ci_low)}, {_g(self.ci_high)}] ({pct} % interval over {self.n} {self.check.replicates}; "
                f"{self.check.estimator}) vs {self.check.prediction} = {_g(self.predicted)} — {self.reason}")


def _g(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{100 * x:+.2g} %"


# ----- statistics -----------------------------------------------------------------------------------
def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): x̄ ± t_{(1+level)/2, n−1}·s/√n over finite replicates; NaN bounds if n < 2."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    # Student's t quantile, the function scipy.stats.t.ppf calls: scipy.special costs a third of
    # scipy.stats' import (0.2 vs 0.6 CPU s), paid here, not by commands that never need it
    from scipy.special import stdtrit

    half = float(stdtrit(len(v) - 1, (1 + level) / 2) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def decide(low: float, high: float, accept: tuple[float, float],
           reject: tuple[float, float] | None = None) -> tuple[str, float]:
    """(verdict, clearance): holds if [low, high] ⊆ accept, fails if it lies inside `reject`
    (default: wholly outside accept), else inconclusive. The clearance is the distance from the
    interval to the boundary it cleared (NaN when inconclusive)."""
    a, b = accept
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive", math.nan
    if a <= low and high <= b:
        return "holds", min(low - a, b - high)
    if reject is None and (high < a or low > b):
        return "fails", max(a - high, low - b)
    if reject is not None and reject[0] <= low and high <= reject[1]:
        return "fails", min(low - reject[0], reject[1] - high)
    return "inconclusive", math.nan


def _finish(check, group, predicted, measured, low, high, rel, verdict, clearance, reason, n, regime,
            cause="straddles") -> Outcome:
    """The outcome, with the reasons a verdict cannot stand applied in order: too few replicates,
    the regime not reached, an interval too wide for the check (`Needs.width`)."""
    if verdict != "inconclusive":
        cause = ""
    if n < 2:
        verdict, cause, reason = "inconclusive", "few replicates", f"{n} replicate(s): no interval"
    elif regime is not None and not regime.reached:
        verdict, cause, reason = "inconclusive", regime.cause, f"{regime.test}; would be {verdict}: {reason}"
    elif regime is not None:
        reason = f"{reason}; {regime.test}"
    if verdict == "inconclusive" and cause in ("straddles", "tied") and high - low > check.needs.width * check.tolerance:
        cause, reason = "few replicates", f"{reason}; interval wider than {check.needs.width:g} × the tolerance"
    if verdict == "inconclusive":
        clearance = math.nan
    return Outcome(check, group, float(predicted), float(measured), float(low), float(high), float(rel),
                   verdict, reason, n, cause, float(clearance))


def _n(values) -> int:
    return int(np.isfinite(np.asarray(values, dtype=float)).sum())


# ----- the three kinds of claim ---------------------------------------------------------------------
def equivalence(check: Check, values, predicted: float, group: str = "", regime: Regime | None = None,
                relative: bool = True) -> Outcome:
    """measured = predicted within ±tolerance: e = x̄/predicted − 1 (relative) or x̄ − predicted;
    holds when the interval of e lies inside ±tolerance, fails when wholly outside."""
    mean, low, high = t_interval(values, check.level)
    e, e_low, e_high = ((x / predicted - 1) if relative else (x - predicted) for x in (mean, low, high))
    if relative and predicted < 0:
        e_low, e_high = e_high, e_low
    tol = check.tolerance
    verdict, clearance = decide(e_low, e_high, (-tol, tol))
    show, band = (_pct, f"±{100 * tol:g} %") if relative else ((lambda x: f"{x:+.3g}"), f"±{tol:g}")
    where = {"holds": "inside", "fails": "outside", "inconclusive": "straddles"}[verdict]
    reason = f"error {show(e)}, interval [{show(e_low)}, {show(e_high)}] {where} {band}"
    return _finish(check, group, predicted, mean, low, high, e, verdict, clearance, reason, _n(values), regime)


def bound(check: Check, values, upper: float | None = None, group: str = "",
          regime: Regime | None = None) -> Outcome:
    """x ≤ upper (default: the check's tolerance); holds when the whole interval is below it."""
    upper = check.tolerance if upper is None else upper
    mean, low, high = t_interval(values, check.level)
    v = np.asarray(values, dtype=float)
    if np.isfinite(v).sum() >= 2 and np.nanmax(v) == np.nanmin(v):  # identical replicates: exact
        low = high = mean
    verdict, clearance = decide(low, high, (-math.inf, upper))
    where = {"holds": "below", "fails": "above", "inconclusive": "straddles"}[verdict]
    reason = f"interval {where} the bound {upper:.3g}"
    return _finish(check, group, upper, mean, low, high, math.nan, verdict, clearance, reason, _n(values), regime)


def ordering(check: Check, a, b, group: str = "", regime: Regime | None = None) -> Outcome:
    """The claim "a beats b by the margin m = tolerance" (lower is better) on paired replicates
    (same seed): r_s = log(a_s/b_s), reported as the geometric-mean ratio exp(r̄) with its
    interval. Holds when the interval of r̄ lies below −m; fails when it lies above +m (b beats a
    by the margin); otherwise inconclusive: tied (cause `tied`, final) when the interval lies
    within [−m, m], else it crosses ±m and more seeds could decide it (cause `few replicates`).
    Equal values (both 0 included) give r_s = 0; a single 0 gives r_s = ∓∞, which, like a diverged
    run's, is no replicate of the interval. Two Series indexed by the same replicates (seeds) are
    paired by index, in any order; anything else pairs by position."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series) and a.index.is_unique and set(a.index) == set(b.index):
        b = b.reindex(a.index)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(a == b, 0.0, np.log(a / b))
    mean, low, high = t_interval(r, check.level)
    m = check.tolerance
    beyond = math.nextafter(m, math.inf)  # strictly past the margin: equal values are tied, even at m = 0
    verdict, clearance = decide(low, high, (-math.inf, -beyond), reject=(beyond, math.inf))
    ratio, r_low, r_high = (math.exp(x) if math.isfinite(x) else math.nan for x in (mean, low, high))
    where = {"holds": "below", "fails": "above", "inconclusive": "reaches into"}[verdict]
    band = f"[{math.exp(-m):.3g}, {math.exp(m):.3g}]" if m else "1"
    inside = -m <= low and high <= m
    reason = f"ratio {ratio:.3g} [{r_low:.3g}, {r_high:.3g}] {where} {band}" + (
        "" if verdict != "inconclusive" else ": tied within the margin" if inside else ": crosses the margin")
    return _finish(check, group, 1.0, ratio, r_low, r_high, ratio - 1, verdict, clearance, reason, _n(r), regime,
                   cause="tied" if inside else "few replicates")


# ----- best point of a grid and final values --------------------------------------------------------
def best_points(frame: pd.DataFrame, over: str, by: list[str] | None = None, value: str = "value",
                seed: str = "seed", level: float = 0.95) -> pd.DataFrame:
    """The best point of the grid `over` per group of `by`: one row per group with the group's
    columns and `best` (NaN when every point diverged), `value` (the seed mean there: geometric
    where log values are compared), `at_edge` (the smallest or largest point of the grid), `tied`
    (the points not significantly worse than the best, paired over seeds, the best included),
    `low`/`high` (the tied range), `n` (seeds) and `grid` (its points).

    The best point minimises the seed mean of log value — of value where some value is ≤ 0 — and a
    point where any seed diverged (value +inf) never wins. A point is tied with the best when the
    t-interval of its paired difference y_s(point) − y_s(best) over seeds contains 0 (with one
    seed: always)."""
    by = list(by or [])
    rows = []
    for key, f in (frame.groupby(by, sort=True, dropna=False) if by else [((), frame)]):
        y = f[value].astype(float)
        finite = y[np.isfinite(y)]
        log = bool(len(finite)) and bool((finite > 0).all())
        y = np.log(y) if log else y
        wide = f.assign(_y=y).pivot_table(index=seed, columns=over, values="_y", aggfunc="mean",
                                          dropna=False).sort_index(axis=1)
        grid = list(wide.columns)
        mean = wide.replace(np.inf, np.nan).mean()
        mean[wide.isin([np.inf]).any() | wide.isna().all()] = np.inf
        best = mean.idxmin() if np.isfinite(mean).any() else math.nan
        tied = [best] if np.isfinite(mean).any() else []
        for g in grid:
            if tied and g != best and np.isfinite(mean[g]) and not t_interval(wide[g] - wide[best], level)[1] > 0:
                tied.append(g)
        tied = tuple(sorted(tied))
        centre = float(mean[best]) if tied else math.nan
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "best": best,
                     "value": math.exp(centre) if log else centre, "at_edge": bool(tied) and len(grid) > 1 and best in (grid[0], grid[-1]), "tied": tied,
                     "low": min(tied, default=math.nan), "high": max(tied, default=math.nan), "n": len(wide),
                     "grid": tuple(grid)})
    return pd.DataFrame(rows, columns=[*by, "best", "value", "at_edge", "tied", "low", "high", "n", "grid"])


def best_flags(final: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per setting id: 'best lr', 'best lr, grid edge' or '' — the best point of `best_points`
    without its tie test (no t quantile: the flags of `toylab summary`'s table) over the lr within
    each group of settings equal but for the lr, in grouped operations: the lr of the smallest seed mean of log value (of value where some finite value of
    the group is ≤ 0), the first on a tie, where no seed diverged (a diverged run's value is NaN
    here, counted +inf); flagged at the smallest or largest lr of a grid of two or more."""
    flags = pd.Series("", index=pd.Index(sorted(final["setting"].unique())))
    if "lr" not in keys:
        return flags
    others = [k for k in keys if k != "lr"]
    group = (final.groupby(others, dropna=False, sort=False).ngroup() if others
             else pd.Series(0, index=final.index)).rename("_group")
    y = final["value"].astype(float).fillna(np.inf)
    finite = np.isfinite(y)
    logged = group.map((y.gt(0) | ~finite).groupby(group).all() & finite.groupby(group).any())
    y = y.where(~logged, np.log(y.where(logged, 1.0)))
    score = y.groupby([group, final["lr"], final["seed"]]).mean().groupby(level=[0, 1]).mean()
    points = score.rename("score").reset_index()  # by group, then lr ascending
    grid = points.groupby("_group")["lr"].agg(["size", "min", "max"])
    scored = points[np.isfinite(points["score"])]
    best = scored.loc[scored.groupby("_group")["score"].idxmin()].join(grid, on="_group")
    best = best[best["size"] > 1]
    best["flag"] = np.where((best["lr"] == best["min"]) | (best["lr"] == best["max"]), "best lr, grid edge", "best lr")
    settings = final[["setting", "lr"]].assign(_group=group).drop_duplicates("setting")
    chosen = settings.merge(best[["_group", "lr", "flag"]], on=["_group", "lr"])
    flags[chosen["setting"].to_numpy()] = chosen["flag"].to_numpy()
    return flags


def best_on_grid(check: Check, frame: pd.DataFrame, over: str, accept: tuple[float, float], by: list[str] | None = None,
                 label=None, value: str = "value", seed: str = "seed") -> list[Outcome]:
    """Per group of `by`, whether the best point of the grid `over` (`best_points`) lies in
    `accept`: holds when the tied range does, fails when it lies wholly outside, inconclusive when
    it straddles (cause `tied`) or, when the check needs an interior best, the best sits at an edge
    of the grid (cause `grid edge`). `label(row)` names a group (default `k=v, …`)."""
    out = []
    for _, p in best_points(frame, over, by, value, seed, check.level).iterrows():
        verdict, clearance = decide(p["low"], p["high"], accept)
        grid = p["grid"]
        reason = (f"best {over} = {p['best']:g} of grid [{grid[0]:g} … {grid[-1]:g}]; tied within noise: "
                  f"{', '.join(f'{t:g}' for t in p['tied'])}; claimed range [{accept[0]:g}, {accept[1]:g}]")
        edge = Regime(not (check.needs.interior and p["at_edge"]), "best inside the grid" if not p["at_edge"]
                      else "best at the grid edge", "grid edge")
        group = label(p) if label else ", ".join(f"{k}={p[k]}" for k in (by or []))
        out.append(_finish(check, group, math.nan, p["best"], p["low"], p["high"], math.nan, verdict, clearance,
                           reason, int(p["n"]), edge, cause="tied"))
    return out


def at_best(frame: pd.DataFrame, over: str, by: list[str], value: str = "value", seed: str = "seed",
            level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(best, rows): `best_points` of the grid `over` per group of `by`, indexed by `by`, and the
    rows of `frame` at their group's best point, with that point as column `best`."""
    best = best_points(frame, over, by, value, seed, level).set_index(by)
    rows = frame.join(best["best"], on=by)
    return best, rows[rows[over] == rows["best"]]


def ordering_at_best(check: Check, frame: pd.DataFrame, a, b, name: str = "name", over: str = "lr",
                     group: str = "", value: str = "value", seed: str = "seed") -> Outcome:
    """`ordering(check, a, b)` between the runs of `frame` named `a` and `b` (column `name`), each at
    its best point of the grid `over` (`at_best`), paired over seeds; `interior` is its regime."""
    best, rows = at_best(frame[frame[name].isin([a, b])], over, [name], value, seed, check.level)
    wide = rows.pivot_table(index=seed, columns=name, values=value)
    return ordering(check, wide[a], wide[b], group, interior(best, [a, b]))


def tuned(frame: pd.DataFrame, over: str = "lr", outer: str | None = None, value: str = "value",
          seed: str = "seed") -> tuple[pd.Series, Regime, str]:
    """Per seed, the value at the tuned setting: the best point of the grid `over` (`best_points`);
    with `outer`, the best `over` per `outer` value, then the best `outer` value at its best `over`.
    Also the regime that every chosen point is inside its grid (cause `grid edge`) and the setting
    as text (`lr = 0.1, eps_max = 1`)."""
    best, rows, edge, chosen = best_points(frame, over, None, value, seed), frame, [], ""
    if outer:
        best, rows = at_best(frame, over, [outer], value, seed)
        top = best_points(rows, outer, None, value, seed).iloc[0]
        rows, best = rows[rows[outer] == top["best"]], best.loc[[top["best"]]]
        edge, chosen = [f"{outer} = {top['best']:g}"] * bool(top["at_edge"]), f", {outer} = {top['best']:g}"
    b = best.iloc[0]
    rows, edge = rows[rows[over] == b["best"]], edge + [f"{over} = {b['best']:g}"] * bool(b["at_edge"])
    chosen = f"{over} = {b['best']:g}" + chosen
    regime = Regime(not edge, f"tuned {chosen} inside the grid" if not edge else
                    "tuned at the grid edge: " + ", ".join(edge), "grid edge")
    return rows.set_index(seed)[value].sort_index(), regime, chosen


def interior(best: pd.DataFrame, names) -> Regime:
    """`best_points` rows (indexed by name) of the values compared: reached when every named best is
    inside its grid; otherwise cause `grid edge`, naming those at the edge."""
    edge = [str(n) for n in names if best.loc[n, "at_edge"]]
    return Regime(not edge, "best inside the grid for " + ", ".join(map(str, names)) if not edge
                  else "best at the grid edge for " + ", ".join(edge), "grid edge")


def final_values(metrics: pd.DataFrame, metric: str | None = None, last: float = 0.0, best: bool = False) -> pd.DataFrame:
    """One row per run (per run and metric when `metric` is None): the run's config columns,
    `value` and `diverged`. The value is the metric at the run's last recorded step, or its mean
    over the last `last` fraction of the run's steps, or (`best`) its smallest value.

    The one rule for a diverged run: the engine marked it diverged, or its value is not finite, or
    its last value exceeds EXPLODE × |its first recorded value| (it blew up without overflowing).
    Its value is then +inf, so it never wins a best point, and `diverged` is True."""
    rows = metrics if metric is None else metrics[metrics["metric"] == metric]
    rows = rows.sort_values(["run", "metric", "step"], kind="mergesort")
    grouped = rows.groupby(["run", "metric"], sort=True)
    first = grouped["value"].first()  # the first recorded finite value
    final = grouped.tail(1).set_index(["run", "metric"])["value"].sort_index()  # NaN stays NaN
    if best:
        value = grouped["value"].min()
    elif last > 0:
        late = rows["step"] >= (1 - last) * rows.groupby("run")["step"].transform("max")
        value = rows[late].groupby(["run", "metric"], sort=True)["value"].mean()
    else:
        value = final
    exploded = (final.abs() > EXPLODE * first.abs()) & (first != 0)
    info = rows.drop_duplicates("run").set_index("run").drop(columns=["metric", "step", "value", "diverged"])
    out = value.rename("value").reset_index().join(info, on="run")
    flagged = rows.drop_duplicates("run").set_index("run")["diverged"].fillna(False).astype(bool)
    out["diverged"] = (out["run"].map(flagged) | exploded.to_numpy() | ~np.isfinite(out["value"])).to_numpy()
    out.loc[out["diverged"], "value"] = np.inf
    return out if metric is None else out.drop(columns="metric")


# ----- headline over groups -------------------------------------------------------------------------
def combine(check: Check, outcomes: list[Outcome]) -> Outcome:
    """The headline of a check over its groups, by the rule `check.combine` (k groups must hold:
    `all` k = n, `any` k = 1, or a count): holds when at least k hold, fails when more than n − k
    fail (k can no longer hold), else inconclusive. It quotes the group that decides it: of the
    groups with its verdict, ranked by how far their intervals clear the boundary, the k-th
    (holds) or the (n − k + 1)-th (fails): the weakest when every group was needed, the strongest
    when one sufficed; an inconclusive headline quotes its first inconclusive group."""
    n = len(outcomes)
    k = {"all": n, "any": 1}.get(check.combine, check.combine)
    if k > n:
        raise ValueError(f"{check.id}: combine={k} needs {k} groups, there are {n}")
    by = {v: [o for o in outcomes if o.verdict == v] for v in VERDICTS}
    if len(by["holds"]) >= k:
        verdict, need = "holds", k
    elif len(by["fails"]) > n - k:
        verdict, need = "fails", n - k + 1
    else:
        verdict, need = "inconclusive", 1
    pool = by[verdict]
    if verdict != "inconclusive":
        pool = sorted(pool, key=lambda o: -o.clearance if math.isfinite(o.clearance) else math.inf)
    decider = pool[need - 1]
    rule = {"all": "all must hold", "any": "any one holding suffices"}.get(check.combine, f"{k} of {n} must hold")
    names = [o.group for o in by[verdict]]
    shown = ", ".join(names[:4]) + (f", … ({len(names) - 4} more)" if len(names) > 4 else "")
    others = ", ".join(f"{len(by[v])} {v}" for v in VERDICTS if v != verdict)
    reason = (f"{verdict} in {len(by[verdict])} of {n} groups: {shown} ({others}; {rule}); "
              f"quoting [{decider.group}]: {decider.reason}")
    return replace(decider, check=check, group="", verdict=verdict, reason=reason, decided_by=decider.group,
                   cause=decider.cause if verdict == "inconclusive" else "")


def headline(check: Check, groups: list[Outcome]) -> list[Outcome]:
    """The check's headline (`combine`) followed by its groups, as the ledger lists them."""
    return [combine(check, groups), *groups] if groups else []


# ----- regime tests ---------------------------------------------------------------------------------
def stationarity(frame: pd.DataFrame, start: float, end: float, tolerance: float, value: str = "value",
                 step: str = "step", by: str = "seed", level: float = 0.95) -> Regime:
    """Steady state reached over [start, end]: per seed the drift d = mean(second half)/mean(first
    half) − 1; reached when the interval of d over seeds lies within ±tolerance. Not reached: the
    runs still drift (cause `regime not reached`: longer runs), unless the mean drift lies inside
    the band while its interval straddles it and is wider than the band, when the seeds are too
    few to tell (`few replicates`). A mean drift outside the band asks for longer runs even when
    the interval is wide: a longer run both moves the window later and averages more steps."""
    mid = (start + end) / 2
    first = window(frame, start, mid, value, step, by)
    second = window(frame[frame[step] > mid], mid, end, value, step, by)
    drift = (second / first - 1).dropna()
    mean, low, high = t_interval(drift, level)
    verdict = decide(low, high, (-tolerance, tolerance))[0]
    reached = verdict == "holds"
    noisy = verdict == "inconclusive" and abs(mean) <= tolerance and not high - low <= 2 * tolerance
    return Regime(reached, f"drift between halves of steps {start:g}–{end:g}: {_pct(mean)} "
                           f"[{_pct(low)}, {_pct(high)}] {'within' if reached else 'not within'} "
                           f"±{100 * tolerance:g} %", "few replicates" if noisy else "regime not reached")


def relaxed(check: Check, start: float, timescale: float, name: str = "relaxation times") -> Regime:
    """The window starts at start/timescale relaxation times; reached when that is at least
    `check.needs.relaxation_times`."""
    times = start / timescale
    need = check.needs.relaxation_times
    return Regime(times >= need, f"window starts at {times:.3g} {name} ({'≥' if times >= need else '<'} {need:g})")


def ledger(outcomes: list[Outcome], report: str) -> pd.DataFrame:
    """Ledger rows of one report, in the order given."""
    return pd.DataFrame([o.row(report) for o in outcomes], columns=list(LEDGER_COLUMNS))


# ----- shared by several analyses -------------------------------------------------------------------
def ranking(check: Check, wide: pd.DataFrame, order: list, group: str, best: pd.DataFrame | None = None) -> list[Outcome]:
    """The claimed ranking order[0] < order[1] < … (lower is better) as the `ordering` of each
    adjacent pair, paired over the rows of `wide` (one column per name, one row per replicate),
    named `group: a < b`; with `best` (`best_points` indexed by name), `interior` is each regime."""
    return [ordering(check, wide[a], wide[b], f"{group}: {a} < {b}", None if best is None else interior(best, [a, b]))
            for a, b in zip(order, order[1:])]


def settled(check: Check, frame: pd.DataFrame, start: float, end: float, timescale: float, value: str = "value",
            name: str = "relaxation times", stationary: bool = True) -> Regime:
    """Equilibrium over the window start…end: it starts `check.needs.relaxation_times` timescales
    in (`relaxed`) and, when `stationary`, the drift of `value` between its halves is within
    needs.drift × tolerance (`stationarity`)."""
    regime = relaxed(check, start, timescale, name)
    if not stationary:
        return regime
    return regime & stationarity(frame, start, end, check.needs.drift * check.tolerance, value=value)


def numbers(outcomes: list[Outcome], versus: str = "predicted") -> dict[str, str]:
    """`{check id: "measured [low, high] vs predicted"}` per outcome, 4 significant digits; with
    versus="verdict", `measured [low, high] (verdict)`."""
    if versus not in ("predicted", "verdict"):
        raise ValueError(f"versus={versus!r} is not allowed; use 'predicted' or 'verdict'")
    tail = {"predicted": lambda o: f"vs {o.predicted:.4g}", "verdict": lambda o: f"({o.verdict})"}[versus]
    return {o.check_id: f"{o.measured:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}] {tail(o)}" for o in outcomes}


# ----- one claim over the groups of a table ---------------------------------------------------------
def _group_name(key) -> str:
    return " ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def orderings(check: Check, frame: pd.DataFrame, a: str, b: str, by) -> list[Outcome]:
    """`ordering(check, rows[a], rows[b])` per group of `by` (columns or index levels; the rows of
    a group paired, one per replicate), each group named by its values joined by spaces."""
    return [ordering(check, rows[a], rows[b], _group_name(key)) for key, rows in frame.groupby(by)]


def orderings_at_best(check: Check, frame: pd.DataFrame, a, b, by, name: str = "name",
                      over: str = "lr") -> list[Outcome]:
    """`ordering_at_best(check, rows, a, b)` per group of `by`: the runs named `a` and `b` (column
    `name`), each at its best point of the grid `over`; groups named as in `orderings`."""
    return [ordering_at_best(check, rows, a, b, name, over, _group_name(key)) for key, rows in frame.groupby(by)]


def equivalences(check: Check, frame: pd.DataFrame, column: str, predicted: float, by,
                 relative: bool = True) -> list[Outcome]:
    """`equivalence(check, rows[column], predicted)` per group of `by`, named as in `orderings`."""
    return [equivalence(check, rows[column], predicted, _group_name(key), relative=relative)
            for key, rows in frame.groupby(by)]


def final_values_per(metrics: pd.DataFrame, metric_of: dict, column: str = "problem", **kw) -> pd.DataFrame:
    """`final_values` for each value of `column` present in `metrics`, with that value's own metric
    (`metric_of`, in its order; e.g. the excess loss where a problem has one, else the loss)."""
    present = set(metrics[column])
    return pd.concat([final_values(metrics[metrics[column] == k], metric, **kw) for k, metric in metric_of.items()
                      if k in present], ignore_index=True)
