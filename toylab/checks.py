"""Claim checks: an estimate with an interval over seeds, a tolerance, and a verdict.

Every verdict of every report goes through this module (docs/claims.md lists the claims). A
`Check` declares what is measured, by which estimator, against which prediction and with which
tolerance. The analysis computes one value per independent replicate (a seed, or an i.i.d.
block of coordinates) for one *group* of runs that may be pooled (equal hyperparameters), and
one of the comparisons below turns them into an `Outcome`:

    relative(check, values, predicted)    closed form: e = x̄/predicted − 1 with its interval,
                                          holds when the whole interval lies in [−tol, tol]
    bound(check, values, upper)           x ≤ upper, e.g. a deviation that should be rounding
    ordering(check, a, b)                 "a < b": paired log-ratios log(a_s/b_s) over seeds,
                                          holds when the whole interval is below −margin,
                                          fails when it is above (equal within it, or reversed)
    grid_best(check, frame, x, accept)    the argmin over a grid lies in `accept`; the grid values
                                          tied with it (paired test over seeds) form its interval

The interval is Student's t at `check.level` over the replicates:
x̄ ± t_{1−α/2, n−1} · s/√n. In each case the verdict is

    holds         the whole interval lies in the accepted region,
    fails         the whole interval lies outside it,
    inconclusive  otherwise (the interval straddles the boundary), or when fewer than two
                  replicates exist, or when `regime.reached` is False (the run has not reached
                  the regime the claim is about), or when the best grid value sits at an edge.

`stationarity` is the regime test for steady-state claims: the window's second half against
its first, per seed. `Outcome.row` is one row of the claims ledger (`reports/claims.csv`) and
`Outcome.sentence` the verdict as a report prints it: estimator, window, seeds, interval,
tolerance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

VERDICTS = ("holds", "fails", "inconclusive")
LEDGER_COLUMNS = ("claim", "check", "report", "quantity", "predicted", "measured", "ci_low", "ci_high",
                  "rel_error", "tolerance", "verdict", "reason", "estimator", "n_seeds")


@dataclass(frozen=True)
class Check:
    claim: str  # "C1" … "C14" (docs/claims.md)
    id: str  # stable ledger id, e.g. "C1-bc"
    quantity: str  # what is measured, e.g. "RMS(m̂/(√v̂+ε))"
    estimator: str  # how one replicate's value is formed, e.g. "mean over steps 5000–10000"
    prediction: str  # the closed form or statement, e.g. "√((1−β1)/(1+β1)), eq. 3"
    tolerance: float  # relative for `relative`, absolute for `bound`, log-ratio margin for `ordering`
    level: float = 0.95  # confidence level of the interval
    replicates: str = "seeds"  # what the interval is over, e.g. "blocks of 1000 coordinates"


@dataclass(frozen=True)
class Regime:
    """Whether the runs reached the regime the claim is about, and the test that says so."""
    reached: bool
    test: str


@dataclass(frozen=True)
class Outcome:
    check: Check
    group: str  # what was held equal among the pooled runs; "" for the headline row
    predicted: float
    measured: float
    ci_low: float
    ci_high: float
    rel_error: float  # measured/predicted − 1 (signed); NaN where no closed form applies
    verdict: str
    reason: str  # one sentence: why this verdict
    n: int  # replicates (seeds) behind the interval

    @property
    def check_id(self) -> str:
        return self.check.id + (f"/{self.group}" if self.group else "")

    def row(self, report: str) -> dict:
        """One row of the claims ledger."""
        return {"claim": self.check.claim, "check": self.check_id, "report": report,
                "quantity": self.check.quantity, "predicted": self.predicted, "measured": self.measured,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "rel_error": self.rel_error,
                "tolerance": self.check.tolerance, "verdict": self.verdict, "reason": self.reason,
                "estimator": self.check.estimator, "n_seeds": self.n}

    def sentence(self) -> str:
        """`**holds** (C1-bc): RMS(u) = 0.2294 [0.2291, 0.2297] … — reason.` for report.md."""
        where = f" [{self.group}]" if self.group else ""
        pct = int(round(100 * self.check.level))
        return (f"**{self.verdict}** ({self.check_id}{where}): {self.check.quantity} = {_g(self.measured)} "
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
    half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def decide(low: float, high: float, accept: tuple[float, float]) -> str:
    """holds if [low, high] ⊆ accept, fails if they are disjoint, else inconclusive."""
    a, b = accept
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    if a <= low and high <= b:
        return "holds"
    if high < a or low > b:
        return "fails"
    return "inconclusive"


def _finish(check, group, predicted, measured, low, high, rel, verdict, reason, n, regime):
    if n < 2:
        verdict, reason = "inconclusive", f"{n} replicate(s): no interval"
    elif regime is not None and not regime.reached:
        verdict, reason = "inconclusive", f"regime not reached ({regime.test}); would be {verdict}: {reason}"
    elif regime is not None:
        reason = f"{reason}; {regime.test}"
    return Outcome(check, group, float(predicted), float(measured), float(low), float(high), float(rel),
                   verdict, reason, n)


def _n(values) -> int:
    return int(np.isfinite(np.asarray(values, dtype=float)).sum())


# ----- comparisons ----------------------------------------------------------------------------------
def relative(check: Check, values, predicted: float, group: str = "", regime: Regime | None = None) -> Outcome:
    """Closed form: e = x̄/predicted − 1; holds when the interval of e lies within ±tolerance."""
    mean, low, high = t_interval(values, check.level)
    e, e_low, e_high = (x / predicted - 1 for x in (mean, low, high))
    if predicted < 0:
        e_low, e_high = e_high, e_low
    verdict = decide(e_low, e_high, (-check.tolerance, check.tolerance))
    reason = {"holds": f"error {_pct(e)}, interval [{_pct(e_low)}, {_pct(e_high)}] inside ±{100 * check.tolerance:g} %",
              "fails": f"error {_pct(e)}, interval [{_pct(e_low)}, {_pct(e_high)}] outside ±{100 * check.tolerance:g} %",
              "inconclusive": f"error {_pct(e)}, interval [{_pct(e_low)}, {_pct(e_high)}] straddles "
                              f"±{100 * check.tolerance:g} %"}[verdict]
    return _finish(check, group, predicted, mean, low, high, e, verdict, reason, _n(values), regime)


def bound(check: Check, values, upper: float | None = None, group: str = "",
          regime: Regime | None = None) -> Outcome:
    """x ≤ upper (default: the check's tolerance); holds when the whole interval is below it."""
    upper = check.tolerance if upper is None else upper
    mean, low, high = t_interval(values, check.level)
    v = np.asarray(values, dtype=float)
    if np.isfinite(v).sum() >= 2 and np.nanmax(v) == np.nanmin(v):  # identical replicates: exact
        low = high = mean
    verdict = decide(low, high, (-math.inf, upper))
    reason = {"holds": f"interval below the bound {upper:.3g}", "fails": f"interval above the bound {upper:.3g}",
              "inconclusive": f"interval straddles the bound {upper:.3g}"}[verdict]
    return _finish(check, group, upper, mean, low, high, math.nan, verdict, reason, _n(values), regime)


def ordering(check: Check, a, b, group: str = "", regime: Regime | None = None) -> Outcome:
    """The claim "a < b" on paired replicates (same seed): r_s = log(a_s/b_s), reported as the
    geometric-mean ratio exp(r̄) with its interval. With margin m = tolerance: holds when the
    interval of r̄ lies below −m, fails when it lies above −m (a is not below b by the margin:
    equal within it, or reversed), inconclusive when it contains −m (tied within noise)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    r = np.log(a / b)
    mean, low, high = t_interval(r, check.level)
    m = check.tolerance
    verdict = decide(low, high, (-math.inf, -m))
    ratio, r_low, r_high = (math.exp(x) if math.isfinite(x) else math.nan for x in (mean, low, high))
    reason = {"holds": f"ratio {ratio:.3g} [{r_low:.3g}, {r_high:.3g}] below {math.exp(-m):.3g}",
              "fails": f"ratio {ratio:.3g} [{r_low:.3g}, {r_high:.3g}] not below {math.exp(-m):.3g}",
              "inconclusive": f"ratio {ratio:.3g} [{r_low:.3g}, {r_high:.3g}] contains {math.exp(-m):.3g}: "
                              f"tied within noise"}[verdict]
    return _finish(check, group, 1.0, ratio, r_low, r_high, ratio - 1, verdict, reason, _n(r), regime)


def grid_best(check: Check, frame: pd.DataFrame, x: str, accept: tuple[float, float], value: str = "value",
              seed: str = "seed", log: bool = True, group: str = "") -> Outcome:
    """Where on the grid `x` the seed-mean of `value` (of log value when `log`) is smallest, and
    whether that lies in `accept`. Grid points whose paired difference from the best has an
    interval containing 0 are tied with it; the tied set [min, max] is the interval. Inconclusive
    when the best is at an edge of the grid or the tied set straddles `accept`.

    `frame` has one row per (x, seed) for one group; a diverged run should carry value = +inf."""
    f = frame[[x, seed, value]].copy()
    f["y"] = np.log(f[value]) if log else f[value]
    wide = f.pivot_table(index=seed, columns=x, values="y", aggfunc="mean").sort_index(axis=1)
    grid = list(wide.columns)
    mean = wide.replace(np.inf, np.nan).mean()
    mean[wide.isin([np.inf]).any()] = np.inf  # a grid point where any seed diverged never wins
    best = mean.idxmin()
    tied = [best]
    for g in grid:
        if g == best or not np.isfinite(mean[g]):
            continue
        _, low, high = t_interval(wide[g] - wide[best], check.level)
        if not (low > 0):  # not significantly worse
            tied.append(g)
    low, high = float(min(tied)), float(max(tied))
    verdict = decide(low, high, accept)
    reason = (f"best {x} = {best:g} of grid [{grid[0]:g} … {grid[-1]:g}]; tied within noise: "
              f"{', '.join(f'{t:g}' for t in sorted(tied))}; claimed range [{accept[0]:g}, {accept[1]:g}]")
    n = len(wide)
    if best in (grid[0], grid[-1]):
        verdict, reason = "inconclusive", f"best at the grid edge: {reason}"
    return _finish(check, group, math.nan, float(best), low, high, math.nan, verdict, reason, n, None)


def combine(check: Check, outcomes: list[Outcome]) -> Outcome:
    """The headline row of a check over several groups: fails if any fails, holds if all hold,
    else inconclusive; its numbers are those of the group with the largest |relative error|."""
    verdicts = {o.verdict for o in outcomes}
    verdict = "fails" if "fails" in verdicts else "holds" if verdicts == {"holds"} else "inconclusive"
    worst = max(outcomes, key=lambda o: abs(o.rel_error) if math.isfinite(o.rel_error) else -1)
    counts = ", ".join(f"{sum(o.verdict == v for o in outcomes)} {v}" for v in VERDICTS)
    return replace(worst, check=check, group="", verdict=verdict,
                   reason=f"over {len(outcomes)} groups: {counts}; largest error in [{worst.group}]: {worst.reason}")


# ----- estimators and regime tests ------------------------------------------------------------------
def window(frame: pd.DataFrame, start: float, end: float, value: str = "value", step: str = "step",
           by: str = "seed") -> pd.Series:
    """Per `by` (seed), the mean of `value` over steps start ≤ step ≤ end."""
    inside = frame[(frame[step] >= start) & (frame[step] <= end)]
    return inside.groupby(by)[value].mean()


def stationarity(frame: pd.DataFrame, start: float, end: float, tolerance: float, value: str = "value",
                 step: str = "step", by: str = "seed", level: float = 0.95) -> Regime:
    """Steady state reached over [start, end]: per seed the drift d = mean(second half)/mean(first
    half) − 1; reached when the interval of d over seeds lies within ±tolerance."""
    mid = (start + end) / 2
    first = window(frame, start, mid, value, step, by)
    second = window(frame[frame[step] > mid], mid, end, value, step, by)
    drift = (second / first - 1).dropna()
    mean, low, high = t_interval(drift, level)
    reached = decide(low, high, (-tolerance, tolerance)) == "holds"
    return Regime(reached, f"drift between halves of steps {start:g}–{end:g}: {_pct(mean)} "
                           f"[{_pct(low)}, {_pct(high)}] {'within' if reached else 'not within'} "
                           f"±{100 * tolerance:g} %")


def ledger(outcomes: list[Outcome], report: str) -> pd.DataFrame:
    """Ledger rows of one report, in the order given."""
    return pd.DataFrame([o.row(report) for o in outcomes], columns=list(LEDGER_COLUMNS))
