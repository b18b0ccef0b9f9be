"""Per-replicate estimators the analyses share: what one seed (or block of coordinates) contributes
to a check (`toylab.checks` turns the replicates into an interval and a verdict).

    window(frame, start, end)            per seed, mean of value over start ≤ step ≤ end
    windowed_ratio(frame, lo, hi)        per seed, √(mean num² / mean den²) over lo·T < step ≤ hi·T
    windowed_ratio_text(a, b, lo, hi)    that estimator described in words, for a check
    block_means(weights, blocks)         per (optimizer, step, block), the mean of θ² over a block of
                                         consecutive coordinates (i.i.d. coordinates as replicates)
    vertex(x, y)                         argmin of the parabola through (x, y), clipped to x's range
    log_vertex(frame, x, around)         that argmin in log x of log value, near a grid point
    at_step(frame, t)                    per seed, value at step t, interpolated linearly in log
    stable_rank_share(spectra)           per (run, step, quantity) of the spectra probe, the stable
                                         rank Σσ²/σ²_max as a share of the number of singular values
    numerical_rank(spectra, rtol)        per (run, step, param) of the spectra probe, the singular values
                                         within the gradient's numerical rank
    trajectory_gap(weights, a, b)        per seed, max_t ‖θ_a,t − θ_b,t‖/‖θ_b,t‖ between two runs
    rms_ratio(frame, start, end, a, b)   per seed, √(Σ a² / Σ b²) over start ≤ step ≤ end
    descent_rate(frame, x, y, start, end)  per seed, (y_start − y_end)/(x_end − x_start) between two steps
    probe_columns(table)                 a probe table with one column per quantity, one row per (run, param, step)
    singular_extremes(spectra, by)       per (*by, step, quantity) of the spectra probe, σ_max and σ_min
    spread_and_growth(extremes, by)      per (*by, seed), the median over steps of σ_max/σ_min and
                                         σ_max at the last step over σ_max at the first
    paired_spectra(spectra, a, b, by)    per (*by, run, step, rank) of the spectra probe, σ_i of two
                                         quantities side by side (`input`, `output`)
    geometric_mean(values)               exp(mean(log v)), e.g. over seeds
    named_gap(weights, runs, a, b)       `trajectory_gap` between the runs named a and b, per seed
    loglog_slope(values)                 per seed, the least-squares slope of log value against log x

The final value of a run (last step, last fraction of the steps, or best) is `checks.final_values`:
it carries the rule for diverged runs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def window(frame: pd.DataFrame, start: float, end: float, value: str = "value", step: str = "step",
           by: str = "seed") -> pd.Series:
    """Per `by` (seed), the mean of `value` over steps start ≤ step ≤ end."""
    inside = frame[(frame[step] >= start) & (frame[step] <= end)]
    return inside.groupby(by)[value].mean()


def windowed_ratio(frame: pd.DataFrame, lo: float, hi: float, num: str = "rms_grad", den: str = "rms_weights",
                   total: str = "steps_total") -> pd.Series:
    """Per seed √(mean num² / mean den²) over steps lo·T < t ≤ hi·T (T = the run's last step, column `total`)."""
    f = frame[(frame["step"] > lo * frame[total]) & (frame["step"] <= hi * frame[total])]
    sq = f.assign(n2=f[num] ** 2, d2=f[den] ** 2).groupby("seed")[["n2", "d2"]].mean()
    return np.sqrt(sq["n2"] / sq["d2"])


def at_step(frame: pd.DataFrame, t: float, value: str = "value", step: str = "step", by: str = "seed") -> pd.Series:
    """Per `by` (seed), the positive `value` at step t, interpolated linearly in log between recorded steps."""
    return frame.sort_values(step).groupby(by).apply(
        lambda g: float(np.exp(np.interp(t, g[step], np.log(g[value])))), include_groups=False)


def block_means(weights: pd.DataFrame, blocks: int) -> pd.DataFrame:
    """Per (optimizer, step, block): the mean of θ² over the block's coordinates, as `value`."""
    w = weights[["optimizer", "step", "index", "value"]].copy()
    n = int(w["index"].max()) + 1
    w["block"] = w["index"] * blocks // n
    w["value"] = w["value"] ** 2
    return w.groupby(["optimizer", "step", "block"], as_index=False)["value"].mean()


def vertex(x: np.ndarray, y: np.ndarray) -> float:
    """argmin of the least-squares parabola through (x, y), clipped to x's range; the smallest
    point's x when the parabola opens downwards."""
    a, b, _ = np.polyfit(x, y, 2)
    v = -b / (2 * a) if a > 0 else x[np.argmin(y)]
    return float(np.clip(v, np.min(x), np.max(x)))


def log_vertex(frame: pd.DataFrame, x: str, around: float, half_width: int = 2, value: str = "value") -> float:
    """The minimiser in x of `value` refined off its grid: exp of the `vertex` of log value against
    log x through the grid points within `half_width` places of `around` (one row per grid point)."""
    grid = np.sort(frame[x].unique())
    i = int(np.searchsorted(grid, around))
    near = frame[frame[x].isin(grid[max(0, i - half_width): i + half_width + 1])].sort_values(x)
    return float(np.exp(vertex(np.log(near[x].to_numpy()), np.log(near[value].to_numpy()))))


def stable_rank_share(spectra: pd.DataFrame) -> pd.Series:
    """Per (run, step, quantity) of a spectra-probe table (one row per singular value σ_i):
    (Σ_i σ_i² / max_i σ_i²) / #σ, in (0, 1]: 1 for a flat spectrum, 1/#σ for rank one."""
    g = spectra.groupby(["run", "step", "quantity"])["value"]
    return (g.apply(lambda v: (v**2).sum()) / g.max() ** 2 / g.count()).rename("share")


def trajectory_gap(weights: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame) -> pd.Series:
    """Per seed (the index `a` and `b` share; each a table of runs with columns `run` and
    `diverged`), G = max_t ‖θ_a,t − θ_b,t‖/‖θ_b,t‖ over the probe steps both runs recorded where
    θ_b,t ≠ 0, from the weights probe (rows run, step, index, value); +inf where either diverged."""
    w = weights.sort_values(["run", "step", "index"])
    theta = {run: g.pivot(index="step", columns="index", values="value").to_numpy() for run, g in w.groupby("run")}
    out = {}
    for seed in sorted(set(a.index) & set(b.index)):
        xa, xb = theta[a.loc[seed, "run"]], theta[b.loc[seed, "run"]]
        n, den = min(len(xa), len(xb)), np.linalg.norm(xb, axis=1)
        ok = den[:n] > 0
        out[seed] = (np.inf if a.loc[seed, "diverged"] or b.loc[seed, "diverged"] else
                     float(np.max(np.linalg.norm(xa[:n] - xb[:n], axis=1)[ok] / den[:n][ok])))
    return pd.Series(out, dtype=float)


def numerical_rank(spectra: pd.DataFrame, rtol: float, reference: str = "grad") -> pd.DataFrame:
    """Per (run, step, param) of a spectra-probe table: the r largest singular values of every
    quantity, r = #{σ_i > rtol·σ_max} of the `reference` quantity (its numerical rank); matrices
    with one singular value are left out."""
    keys = ["run", "step", "param"]
    s = spectra.copy()
    s["rank"] = s.groupby(keys + ["quantity"])["value"].rank(ascending=False, method="first")
    g = s[s["quantity"] == reference]
    r = (g["value"] > rtol * g.groupby(keys)["value"].transform("max")).groupby([g[k] for k in keys]).sum()
    s = s.join(r.rename("r"), on=keys)
    n = s.groupby(keys)["rank"].transform("max")
    return s[(s["rank"] <= s["r"]) & (n > 1)].drop(columns=["rank", "r"])


def rms_ratio(frame: pd.DataFrame, start: float, end: float, num: str, den: str, step: str = "step",
              by: str = "seed") -> pd.Series:
    """Per `by` (seed), √(Σ num² / Σ den²) over the rows with start ≤ step ≤ end."""
    inside = frame[(frame[step] >= start) & (frame[step] <= end)]
    sums = (inside[[num, den]] ** 2).groupby(inside[by]).sum()
    return np.sqrt(sums[num] / sums[den])


def descent_rate(frame: pd.DataFrame, x: str, y: str, start: float, end: float, step: str = "step",
                 by: str = "seed") -> pd.Series:
    """Per `by` (seed), how fast y falls along x between two recorded steps:
    (y_start − y_end)/(x_end − x_start)."""
    at = frame[frame[step].isin([start, end])].pivot(index=by, columns=step, values=[x, y])
    return (at[y, start] - at[y, end]) / (at[x, end] - at[x, start])


def probe_columns(table: pd.DataFrame, keys=("run", "param", "step")) -> pd.DataFrame:
    """A probe table (one row per run, param, step and quantity) with one row per `keys` and one
    column per quantity, beside the run's config columns."""
    keys = list(keys)
    wide = table.pivot_table(index=keys, columns="quantity", values="value")
    return wide.join(table.drop(columns=["quantity", "value"]).drop_duplicates(keys).set_index(keys)).reset_index()


def windowed_ratio_text(num: str, den: str, lo: float, hi: float) -> str:
    """What `windowed_ratio` measures, as a check's estimator: `√(mean ‖g‖²/mean ‖x‖²) over steps
    T/2…T per seed`, or `√(mean (a)²) …` when den is "" (a plain norm)."""
    where = "…".join({0.25: "T/4", 0.5: "T/2", 1.0: "T"}.get(f, f"{f:g}T") for f in (lo, hi))
    return (f"√(mean {num}²/mean {den}²)" if den else f"√(mean ({num})²)") + f" over steps {where} per seed"


def singular_extremes(spectra: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per (*by, step, quantity) of a spectra-probe table: the largest and the smallest singular
    value, as columns `max` and `min`."""
    return spectra.groupby([*by, "step", "quantity"])["value"].agg(["max", "min"]).reset_index()


def spread_and_growth(extremes: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per (*by, seed) of `singular_extremes` rows: `spread`, the median over steps of σ_max/σ_min,
    and `growth`, σ_max at the last step / σ_max at the first; columns (statistic, quantity)."""
    e = extremes.assign(spread=extremes["max"] / extremes["min"]).sort_values("step")
    g = e.groupby([*by, "seed", "quantity"])
    stats = {"spread": g["spread"].median(), "growth": g["max"].last() / g["max"].first()}
    return pd.concat(stats, axis=1).unstack("quantity")


def paired_spectra(spectra: pd.DataFrame, a: str, b: str, by: list[str], normalise: bool = False) -> pd.DataFrame:
    """Per (*by, run, step, index) of a spectra-probe table: the singular values of quantities `a` and
    `b` of the same rank as columns `input` and `output`; with `normalise`, the input over its
    Frobenius norm √(Σ_i σ_i²) at that step."""
    wide = spectra[spectra["quantity"].isin([a, b])].pivot_table(
        index=[*by, "run", "step", "index"], columns="quantity", values="value").reset_index()
    wide = wide.rename(columns={a: "input", b: "output"})
    if normalise:
        wide["input"] /= np.sqrt((wide["input"] ** 2).groupby([wide["run"], wide["step"]]).transform("sum"))
    return wide


def run_median(probe: pd.DataFrame, quantity: str) -> pd.Series:
    """Per run, the median over its probed steps of one `quantity` of a probe table (`run`, `quantity`, `value`)."""
    return probe[probe["quantity"] == quantity].groupby("run")["value"].median()


def geometric_mean(values) -> float:
    """exp(mean_i log v_i) of positive values (e.g. one per seed); 0 if one is 0, inf if one is."""
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(np.asarray(values, dtype=float)))))


def named_gap(weights: pd.DataFrame, runs: pd.DataFrame, a: str, b: str, name: str = "variant") -> pd.Series:
    """`trajectory_gap` per seed between the runs whose column `name` is `a` and those where it is
    `b` (`runs`: one row per run, indexed by run, with `seed` and `diverged`; one run per seed)."""
    pick = lambda n: runs[runs[name] == n].reset_index().set_index("seed")  # noqa: E731
    return trajectory_gap(weights, pick(a), pick(b))


def loglog_slope(values: dict) -> pd.Series:
    """Per seed, the least-squares slope of log value against log x, from `values` {x: per-seed
    values (a Series indexed by seed)}, e.g. d log(gap)/d log ε."""
    x = np.log(list(values))
    return pd.DataFrame({k: np.log(v) for k, v in values.items()}).apply(lambda r: np.polyfit(x, r, 1)[0], axis=1)
