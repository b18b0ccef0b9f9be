"""The statistics of a fair optimizer comparison, as pure functions of numbers (no runs, no I/O).

**Steps to a target.** A run records its metric v_i at steps 0 = t_0 < t_1 < … < t_m = S (every
`metric_every` steps and the last). Its steps to the target y* are

    T = min{ t_i : v_i ≤ y* },    T = ∞ (censored) when no recorded value reaches y*,

resolved to the recording grid (the first crossing lies in (t_{i−1}, t_i]); a diverged run
records NaN from its divergence on, which never reaches.

**Lost runs and caps.** A value of ∞ is *lost*: a run that missed the target (its T) or diverged
(its final value). Where a number is needed, a lost run counts as its cap c: the budget S for T
(it needed more than S steps), its initial value v_0 for the final value (no progress). A cap
understates how bad a lost run is, so no rule below lets a conclusion rest on the cap of the
side it favours. Before a logarithm, steps are clamped to ≥ 1 (a target met at step 0 took no
step; this counts it as the best possible) and values to ≥ `TINY`, the smallest normal float64.

**Paired ratio** (common random numbers: seed s gives both optimizers the same instance and the
same batches). Over the seeds where A or B is not lost (both lost: no ordering, left out),

    d_s = log(x̃_A,s / x̃_B,s),    x̃ = min(x, c),

estimated as the geometric-mean ratio exp(d̄) with the Student-t interval exp(d̄ ± t·s_d/√n) at
`level` (`checks.t_interval`). Capping B's lost runs moves d_s up towards 0 from its true −∞, so
it only makes "A beats B" harder. The rule:

    A beats B    the interval lies below 1 and A is lost on none of the n seeds,
    B beats A    the interval lies above 1 and B is lost on none of them,
    tied         the interval contains 1,
    unresolved   the interval excludes 1 but the side it favours is lost on some seed (the
                 ratio rests on that side's cap, which flatters it), or n < 2.

The level is per comparison (no correction for the number of pairs).

**Tuning** picks, per optimizer, the setting h of its grid that minimises, over the tuning seeds
only, lexicographically

    (any seed diverged, seeds that miss y*, mean_s log T̃_s, mean_s log v_final,s),

ties to the first setting in grid order. **Derived target**: y* = F · min_h exp(mean_s log
v_final(h, s)), the smallest geometric-mean final value over the tuning seeds of any setting
of any optimizer with no lost tuning seed, times the factor F ≥ 1.

**Performance profile** (Dolan & Moré 2002, Math. Program. 91:201). An instance i is one
(problem, held-out seed) pair; with T_{i,o} the steps of optimizer o (∞ when missed),

    r_{i,o} = T_{i,o} / min_o' T_{i,o'},     ρ_o(τ) = |{i : r_{i,o} ≤ τ}| / |I|,

so ρ_o(1) is the share of instances o reaches first (ties count for each tied optimizer) and
ρ_o(τ → ∞) the share it reaches at all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import t_interval

VERDICTS = ("a", "b", "tied", "unresolved")  # "a": A beats B, "b": B beats A
TINY = float(np.finfo(float).tiny)


def steps_to_target(steps, values, target: float) -> float:
    """T: the first recorded step whose value is ≤ `target`, ∞ if none (NaN never reaches).
    `steps` ascending, `values` the metric at those steps."""
    steps, values = np.asarray(steps), np.asarray(values, dtype=float)
    hit = np.flatnonzero(values <= target)
    return float(steps[hit[0]]) if len(hit) else math.inf


def capped(values, caps, at_least: float = TINY) -> np.ndarray:
    """x̃ = min(x, c) per element (∞ → c), then clamped to ≥ `at_least`."""
    return np.maximum(np.minimum(np.asarray(values, dtype=float), caps), at_least)


@dataclass(frozen=True)
class Paired:
    """A paired comparison of A and B (module docstring): geometric-mean ratio A/B with its
    interval, over `n` seeds, of which A lost `a_lost` and B lost `b_lost`, and the verdict."""
    ratio: float
    low: float
    high: float
    n: int
    a_lost: int
    b_lost: int
    verdict: str  # one of VERDICTS
    level: float


def paired_ratio(a, b, a_caps, b_caps, level: float = 0.95, at_least: float = TINY) -> Paired:
    """The paired ratio and its verdict (module docstring). `a`, `b`: one value per seed, in
    the same seed order, ∞ where lost; `a_caps`, `b_caps`: the caps (scalars or per seed)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a_lost, b_lost = ~np.isfinite(a), ~np.isfinite(b)
    kept = ~(a_lost & b_lost)
    d = np.log(capped(a, a_caps, at_least) / capped(b, b_caps, at_least))[kept]
    mean, low, high = t_interval(d, level)
    n, lost_a, lost_b = int(kept.sum()), int(a_lost[kept].sum()), int(b_lost[kept].sum())
    if n < 2 or not (high < 0 or low > 0):
        verdict = "unresolved" if n < 2 else "tied"
    elif high < 0:
        verdict = "a" if lost_a == 0 else "unresolved"
    else:
        verdict = "b" if lost_b == 0 else "unresolved"
    ratio, low, high = (math.exp(x) if math.isfinite(x) else math.nan for x in (mean, low, high))
    return Paired(ratio, low, high, n, lost_a, lost_b, verdict, level)


def tuning_key(steps, finals, budget: float) -> tuple:
    """The key tuning minimises for one setting over its tuning seeds (module docstring):
    `steps` T_s (∞ missed), `finals` v_final,s (∞ diverged), `budget` S."""
    steps, finals = np.asarray(steps, dtype=float), np.asarray(finals, dtype=float)
    diverged = bool((~np.isfinite(finals)).any())
    log_final = float(np.mean(np.log(np.maximum(finals, TINY)))) if not diverged else math.inf
    return (diverged, int((~np.isfinite(steps)).sum()), float(np.mean(np.log(capped(steps, budget, 1.0)))),
            log_final)


def pick(keys: list[tuple]) -> int:
    """The index of the smallest key, the first one on ties."""
    return min(range(len(keys)), key=lambda i: keys[i])


def derived_target(finals_per_setting: list, factor: float) -> float:
    """y* = F · the smallest geometric-mean final value over settings with no lost seed;
    NaN when every setting lost a seed."""
    means = [math.exp(np.mean(np.log(np.maximum(f, TINY)))) for f in map(np.asarray, finals_per_setting)
             if np.isfinite(f).all()]
    return factor * min(means) if means else math.nan


def geometric_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(exp(x̄), exp(low), exp(high)) of x = log max(v, TINY) over the finite values v."""
    v = np.asarray(values, dtype=float)
    x = np.log(np.maximum(v[np.isfinite(v)], TINY))
    return tuple(math.exp(m) if math.isfinite(m) else math.nan for m in t_interval(x, level))


def performance_ratios(steps) -> np.ndarray:
    """r_{i,o} = T_{i,o} / min_o' T_{i,o'} of `steps` `[instances, optimizers]` (∞ missed; T
    clamped to ≥ 1); ∞ where T is ∞, so an instance nobody reaches is ∞ for all."""
    t = np.maximum(np.asarray(steps, dtype=float), 1.0)
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(t), t / best, math.inf)


def performance_profile(steps, taus) -> np.ndarray:
    """ρ_o(τ) `[len(taus), optimizers]`: the share of instances with r_{i,o} ≤ τ."""
    r = performance_ratios(steps)
    return (r[None, :, :] <= np.asarray(taus, dtype=float)[:, None, None]).mean(axis=1)
