"""Honest figures: one colour per optimizer, seed bands in the axis' own geometry, diverged runs
as markers at the edge rather than as data, labelled best values and theory lines.

Seed band over the n runs that share (hue, x), values v_1..v_n:

    linear axis   centre m = mean(v),            band m ± 2·s/√n,          s = std(v, ddof=1)
    log axis      centre g = exp(mean(log v)),   band exp(mean(log v) ± 2·s_log/√n)

so on a log axis the band is a geometric mean times/divided by a factor and never reaches
zero (the axis floor) by construction. A run that is diverged (`diverged` column), has a
non-finite value, or explodes (max |v| > `explode` × |v at its first x|) is left out of every
band and drawn by `mark_diverged` at the top edge of the axes, with a legend entry.

Colours are a fixed table (`COLORS`) for the optimizers and their usual variants and a
hash of the name otherwise, so a name's colour never depends on which other names are drawn.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

# tab10 / tab20 colours: dark for an optimizer, its light twin for the scheduled variant.
COLORS = {
    "adamw": "#1f77b4", "adamw cosine": "#aec7e8",
    "adamc": "#17becf", "adamc cosine": "#9edae5",
    "sgd": "#ff7f0e", "sgd cosine": "#ffbb78",
    "sgdc": "#8c564b", "sgdc cosine": "#c49c94",
    "signsgd": "#2ca02c", "signum": "#2ca02c", "signsgd cosine": "#98df8a", "signum cosine": "#98df8a",
    "muon": "#d62728", "muon cosine": "#ff9896",
}
FALLBACK = ["#9467bd", "#e377c2", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39",
            "#7b4173", "#5254a3", "#b5cf6b", "#e7ba52", "#ad494a", "#2f4b7c", "#a05195", "#665191"]
THEORY = dict(linestyle="--", color="0.2", linewidth=1.2)
DIVERGED = dict(marker="x", s=36, linewidths=1.5, clip_on=False, zorder=5)
BEST = dict(marker="*", s=160, edgecolors="black", linewidths=0.8, zorder=6)


def _key(name) -> str:
    return str(name).strip().lower()


def _hashed(name) -> int:
    return int(hashlib.sha256(_key(name).encode()).hexdigest(), 16)


def color(name) -> str:
    """The colour of `name` (an optimizer or variant label) in every figure."""
    key = _key(name)
    return COLORS.get(key, FALLBACK[_hashed(key) % len(FALLBACK)])


def order(names) -> list:
    """Distinct `names` in a fixed order: numbers by value, anything else as sorted text."""
    names = list(dict.fromkeys(names))
    if all(isinstance(n, (int, float, np.number)) and not isinstance(n, bool) for n in names):
        return sorted(names)
    return sorted(names, key=str)


def palette(names) -> dict:
    """`{name: colour}` for seaborn's `palette=`. Fixed names keep their colour; two hashed names
    that collide are separated in sorted order (the later one takes the next free fallback)."""
    out, used = {}, {color(n) for n in names if _key(n) in COLORS}
    for name in order(names):
        c = color(name)
        if _key(name) not in COLORS:
            start = _hashed(name) % len(FALLBACK)
            free = [FALLBACK[(start + i) % len(FALLBACK)] for i in range(len(FALLBACK))
                    if FALLBACK[(start + i) % len(FALLBACK)] not in used]
            c = free[0] if free else c
        out[name] = c
        used.add(c)
    return out


# ----- seed bands ----------------------------------------------------------------------------------
def _run_key(frame: pd.DataFrame, hue: str | None, unit: str) -> list[str]:
    if "run" in frame.columns:
        return ["run"]
    return [c for c in (hue, unit) if c is not None]


def excluded_runs(frame: pd.DataFrame, x: str, y: str, hue: str | None = None, unit: str = "seed",
                  explode: float | None = None) -> pd.Series:
    """Per row: True when its run is diverged, has a non-finite `y`, or explodes (see module)."""
    keys = _run_key(frame, hue, unit)
    bad = ~np.isfinite(frame[y].astype(float))
    if "diverged" in frame.columns:
        bad |= frame["diverged"].fillna(False).astype(bool)
    if explode is not None:
        first = frame.sort_values(x).groupby(keys)[y].transform("first").reindex(frame.index)
        peak = frame[y].abs().groupby([frame[k] for k in keys]).transform("max")
        bad |= peak > explode * first.abs()
    return bad.groupby([frame[k] for k in keys]).transform("any").astype(bool)


def seed_stats(frame: pd.DataFrame, x: str, y: str, hue: str | None = None, log: bool = False,
               unit: str = "seed", explode: float | None = None) -> pd.DataFrame:
    """Per (hue, x) over the kept runs: `centre`, `low`, `high` (module docstring) and `n`.
    On a log axis values ≤ 0 cannot be drawn and are left out."""
    kept = frame[~excluded_runs(frame, x, y, hue, unit, explode)]
    if log:
        kept = kept[kept[y] > 0]
    v = np.log(kept[y].astype(float)) if log else kept[y].astype(float)
    groups = [kept[hue], kept[x]] if hue else [kept[x]]
    stats = v.groupby(groups).agg(["mean", "std", "count"]).reset_index()
    stats.columns = [*([hue] if hue else []), x, "mean", "std", "n"]
    half = 2 * stats["std"].fillna(0.0) / np.sqrt(stats["n"])
    back = np.exp if log else (lambda a: a)
    stats["centre"], stats["low"], stats["high"] = back(stats["mean"]), back(stats["mean"] - half), back(stats["mean"] + half)
    return stats.drop(columns=["mean", "std"])


def seed_band(ax, frame: pd.DataFrame, x: str, y: str, hue: str | None = None, log: bool | None = None,
              unit: str = "seed", explode: float | None = None, label=None, marker=None, **line) -> pd.DataFrame:
    """Draw the centre line and the ±2 s.e. band per hue (sorted order, fixed colours), and the
    excluded runs with `mark_diverged`. `log=None` follows the axis' current y scale. Returns
    the `seed_stats` table that was drawn."""
    log = ax.get_yscale() == "log" if log is None else log
    if log:
        ax.set_yscale("log")
    stats = seed_stats(frame, x, y, hue, log, unit, explode)
    names = order(frame[hue]) if hue else [label]
    colors = palette(names) if hue else {label: line.pop("color", "0.2")}
    for name in names:
        s = stats[stats[hue] == name] if hue else stats
        if s.empty:
            continue
        s = s.sort_values(x)
        ax.plot(s[x], s["centre"], color=colors[name], label=None if name is None else str(name), marker=marker, **line)
        ax.fill_between(s[x], s["low"], s["high"], color=colors[name], alpha=0.2, linewidth=0)
        if len(s) == 1:  # a band needs two x; one x gets its interval as a bar
            ax.vlines(s[x], s["low"], s["high"], color=colors[name], alpha=0.5)
    bad = frame[excluded_runs(frame, x, y, hue, unit, explode)]
    if len(bad):
        mark_diverged(ax, where_lost(bad, x, y, hue, unit), x, hue, colors)
    return stats


def panel_bands(axes, frame: pd.DataFrame, by, x: str, y: str, hue: str | None = None, best: pd.DataFrame | None = None,
                xlabel: str | None = None, ylabel: str | None = None, legend_kw: dict | None = None, xscale: str | None = None,
                reference: tuple | None = None, **band) -> list:
    """One panel per value of `by` (a column or a list of columns, sorted), on `axes` in order:
    `seed_band` of y against x per hue (x on an `xscale` axis when given), titled with the value
    (`a: b` for several columns); with `best` (`checks.best_points` indexed by (*by, hue)), a star
    on each hue's centre line at its best x; with `reference` = (rows, label, colour), the
    `interval_line` of y over the panel's rows of `rows`. Axes left over are hidden. Returns the
    values, one tuple per panel."""
    cols = [by] if isinstance(by, str) else list(by)
    keys = sorted(map(tuple, frame[cols].dropna().drop_duplicates().to_numpy().tolist()))
    panel = lambda f, key: f[np.logical_and.reduce([f[c] == k for c, k in zip(cols, key)])]  # noqa: E731
    for ax, key in zip(axes.flat, keys):
        rows = panel(frame, key)
        stats = seed_band(ax, rows, x, y, hue, **band)
        if reference is not None:
            interval_line(ax, panel(reference[0], key)[y], *reference[1:])
        for name in order(rows[hue]) if best is not None else []:
            b = best.loc[(*key, name), "best"]
            s = stats[(stats[hue] == name) & (stats[x] == b)]
            if len(s):
                mark_best(ax, b, float(s["centre"].iloc[0]), name)
        ax.set(xlabel=xlabel or x, ylabel=ylabel or y, title=": ".join(map(str, key)))
        if xscale:
            ax.set_xscale(xscale)
        legend(ax, **{"fontsize": "x-small", **(legend_kw or {})})
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    return keys


def best_sweep(ax, frame: pd.DataFrame, best: pd.DataFrame, hue: str, x: str = "lr", y: str = "value",
               label: str = "best lr", **band) -> None:
    """On log axes, `seed_band` of y against x per hue with markers, and a star at each hue's best
    point (`best`: `checks.best_points` indexed by hue, its `best` x at its `value`)."""
    ax.set(xscale="log", yscale="log")
    seed_band(ax, frame, x, y, hue, log=True, **{"marker": "o", **band})
    for name in order(frame[hue]):
        mark_best(ax, best.loc[name, "best"], best.loc[name, "value"], name=name, label=label)


def range_points(ax, x, centre, low, high, label: str) -> None:
    """Points at (x, centre) with a bar from low to high each (e.g. the grid values tied with a best)."""
    centre = np.asarray(centre, dtype=float)
    ax.errorbar(x, centre, yerr=[centre - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - centre],
                marker="o", linestyle="none", capsize=3, label=label)


def interval_line(ax, values, label: str, color=None, log: bool = True) -> None:
    """The mean of `values` (geometric when `log`) as a horizontal line, its 95 % t-interval
    (`checks.t_interval`, in log space when `log`) as a band."""
    from .checks import t_interval

    v = np.log(np.asarray(values, dtype=float)) if log else np.asarray(values, dtype=float)
    mean, low, high = (np.exp(x) if log else x for x in t_interval(v))
    ax.axhline(mean, color=color, label=label)
    ax.axhspan(low, high, color=color, alpha=0.15, linewidth=0)


def seed_points(ax, groups: dict, color="C0", floor: float = 1e-18, label: str = "geometric mean") -> None:
    """On log axes, per key x of `groups` (one value per seed), the values as points at x (clipped
    below at `floor`) and the geometric means joined by a line."""
    for x, g in groups.items():
        ax.plot(np.full(len(g), x), g.clip(lower=floor), "o", color=color, alpha=0.5, markersize=3)
    ax.plot(list(groups), [np.exp(np.log(g).mean()) for g in groups.values()], "-", color=color, label=label)
    ax.set(xscale="log", yscale="log")


def log10_strip(ax, groups: dict, color="C1", floor: float = 1e-18) -> None:
    """One row per key of `groups` (first at the bottom, labelled), one point per seed at log10 of its
    value (clipped below at `floor`); a non-finite value (a diverged run) as a × at the right edge."""
    from matplotlib.transforms import blended_transform_factory  # here: importing plotting imports no matplotlib

    trans = blended_transform_factory(ax.transAxes, ax.transData)
    for i, g in enumerate(groups.values()):
        finite = g[np.isfinite(g)]
        ax.plot(np.log10(finite.clip(lower=floor)), np.full(len(finite), i), "o", color=color, alpha=0.6, markersize=3)
        if len(finite) < len(g):
            ax.scatter([1.0], [i], transform=trans, color="C3", **DIVERGED)
    ax.set_yticks(range(len(groups)), list(groups), fontsize=7)


def strip_with_theory(ax, frame: pd.DataFrame, x: str, y: str, hue: str, order: list, theory, label: str) -> None:
    """Every row as a point per category of x (in `order`), the hues side by side (sorted), without
    random jitter (reproducible); over each (hue, category) a dashed segment at `theory(first row of
    the hue, category)`, with one legend entry `label`."""
    hues = sorted(frame[hue].unique())
    import seaborn as sns  # here: importing plotting imports no seaborn

    sns.stripplot(frame, x=x, y=y, hue=hue, order=order, hue_order=hues, dodge=True, jitter=False, ax=ax, size=4)
    width = 0.8 / len(hues)
    for j, h in enumerate(hues):
        row = frame[frame[hue] == h].iloc[0]
        for i, category in enumerate(order):
            at = i - 0.4 + width * (j + 0.5)
            ax.hlines(theory(row, category), at - width / 2, at + width / 2, **THEORY, label=label if i + j == 0 else None)


def labelled_scatter(ax, frame: pd.DataFrame, x: str, y: str, hue: str, text: str, colors: dict,
                     labels: dict | None = None, log: bool = False, **kw) -> None:
    """One point per row at (x, y) in its hue's colour (legend: `labels[hue]`, each once), annotated
    with `text`; with `log`, both axes logarithmic."""
    for _, row in frame.iterrows():
        ax.scatter(row[x], row[y], color=colors[row[hue]], label=(labels or {}).get(row[hue], row[hue]), **kw)
        ax.annotate(row[text], (row[x], row[y]), fontsize=6, textcoords="offset points", xytext=(3, 2))
    if log:
        ax.set(xscale="log", yscale="log")
    legend(ax, fontsize="x-small")


def panel_scatter(axes, frame: pd.DataFrame, by: str, x: str, y: str, hue: str, colors: dict, curve=None,
                  **kw) -> list:
    """One panel per value of `by` (sorted): the points (x, y) of each hue in `colors` (in its order),
    and `curve(hue)` → (xs, ys), when given, dashed in the hue's colour. Axes left over are hidden."""
    keys = sorted(frame[by].unique())
    for ax, key in zip(axes.flat, keys):
        for name, c in colors.items():
            pts = frame[(frame[by] == key) & (frame[hue] == name)]
            ax.scatter(pts[x], pts[y], color=c, label=name, **kw)
            if curve is not None:
                ax.plot(*curve(name), **{**THEORY, "color": c})
        ax.set(title=key)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    return keys


def where_lost(frame: pd.DataFrame, x: str, y: str, hue: str | None = None, unit: str = "seed") -> pd.DataFrame:
    """One row per run of `frame`: its first row with a non-finite `y`, else its last row (by x)."""
    rows = frame.sort_values(x, kind="mergesort")
    finite = np.isfinite(rows[y].astype(float))
    first_bad = rows[~finite].groupby(_run_key(rows, hue, unit)).head(1)
    last = rows.groupby(_run_key(rows, hue, unit)).tail(1)
    keys = _run_key(rows, hue, unit)
    seen = set(map(tuple, first_bad[keys].to_numpy()))
    return pd.concat([first_bad, last[[tuple(k) not in seen for k in last[keys].to_numpy()]]])


def mark_diverged(ax, frame: pd.DataFrame, x: str, hue: str | None = None, colors: dict | None = None,
                  label: str = "diverged (top edge)") -> None:
    """One × per distinct (hue, x) of `frame` at the top edge of the axes (x in data units), in
    the hue's colour, plus one legend entry (`seed_band` passes one row per run, `where_lost`)."""
    from matplotlib.transforms import blended_transform_factory  # here: importing plotting imports no matplotlib

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    points = frame[[c for c in (hue, x) if c]].drop_duplicates()
    for _, p in points.sort_values([c for c in (hue, x) if c]).iterrows():
        if pd.notna(p[x]):
            c = (colors or {}).get(p[hue], color(p[hue])) if hue else "0.3"
            ax.scatter([p[x]], [1.0], transform=trans, color=c, **DIVERGED)
    _legend_proxy(ax, label, lambda: ax.scatter([], [], color="0.3", label=label, **DIVERGED))


def mark_best(ax, x, y, name=None, label: str = "best lr") -> None:
    """A star at the chosen best value (x, y), in the colour of `name`, plus one legend entry."""
    ax.scatter([x], [y], color=color(name) if name is not None else "0.3", **BEST)
    _legend_proxy(ax, label, lambda: ax.scatter([], [], color="white", label=label, **BEST))


def theory_line(ax, y, label: str, x=None, **style) -> None:
    """Theory as a dashed line with a legend entry: horizontal at `y`, or the curve (x, y)."""
    kw = {**THEORY, **style}
    if x is None:
        ax.axhline(y, label=label, **kw)
    else:
        ax.plot(x, y, label=label, **kw)


def _legend_proxy(ax, label: str, draw) -> None:
    if label not in ax.get_legend_handles_labels()[1]:
        draw()


def legend(ax, **kw) -> None:
    """The legend of `ax` with each label once, in drawing order (complete: nothing dropped)."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        ax.legend(list(unique.values()), list(unique.keys()), **kw)


def ratio_forest(ax, outcomes: list, labels: list[str], margin: float) -> None:
    """Ordering outcomes (`checks.ordering`: a geometric-mean ratio with its interval) as one row
    each, top to bottom, coloured by verdict, on a log axis, with the tied band [e^−m, e^m]."""
    from .site import VERDICT_COLORS

    y = np.arange(len(outcomes))[::-1]
    for yi, o in zip(y, outcomes):
        ax.errorbar([o.measured], [yi], xerr=[[o.measured - o.ci_low], [o.ci_high - o.measured]], fmt="o", capsize=2,
                    color=VERDICT_COLORS[o.verdict], label=o.verdict)
    ax.axvspan(np.exp(-margin), np.exp(margin), color="0.85", zorder=0, label=f"tied band e^±{margin:g}")
    ax.set(xscale="log", yticks=y, yticklabels=labels)
    legend(ax, fontsize="x-small")


def error_forest(ax, outcomes: list, tolerance: float) -> None:
    """Equivalence outcomes (`checks.equivalence`) as one row each, top to bottom, labelled by check:
    the relative error 100·(measured/predicted − 1) % with its interval, coloured by verdict, on a
    symlog axis, with the band ±100·tolerance %."""
    from .site import VERDICT_COLORS

    y = np.arange(len(outcomes))
    err, lo, hi = (np.array([100 * (getattr(o, k) / o.predicted - 1) for o in outcomes])
                   for k in ("measured", "ci_low", "ci_high"))
    ax.axvspan(-100 * tolerance, 100 * tolerance, color="0.9", label=f"±{100 * tolerance:g} % tolerance")
    ax.errorbar(err, y, xerr=[err - lo, hi - err], fmt="none", ecolor="0.3", elinewidth=1)
    ax.scatter(err, y, c=[VERDICT_COLORS[o.verdict] for o in outcomes], s=14, zorder=3)
    ax.set_yticks(y, [o.check_id for o in outcomes], fontsize=6)
    ax.set(xscale="symlog", xlabel="measured / predicted − 1 [%] (95 % interval over seeds)")
    ax.invert_yaxis()


def mean_line(ax, frame: pd.DataFrame, x: str, y: str, label: str, **style) -> None:
    """The mean of `y` over the rows that share x (a prediction made per seed) as a `theory_line` curve."""
    mean = frame.groupby(x)[y].mean()
    theory_line(ax, mean.to_numpy(), label, x=mean.index, **style)


def tolerance_band(ax, tolerance: float, windows=()) -> None:
    """On a panel of measured / predicted: the band 1 ± tolerance (with its legend entry) and each
    window (start, end) of the checks shaded behind the data."""
    ax.axhspan(1 - tolerance, 1 + tolerance, color="0.75", label=f"±{100 * tolerance:g} % tolerance")
    for start, end in windows:
        ax.axvspan(start, end, color="0.93", zorder=0)


def ratio_band(ax, frame: pd.DataFrame, x: str, prediction: str, value: str = "value", **band) -> pd.DataFrame:
    """`seed_band` on a log axis of value / prediction (measured over predicted, per seed); the rows
    where the prediction is 0 (an infinite ratio) are left out, not their runs."""
    ratio = frame.assign(ratio=frame[value] / frame[prediction]).replace(np.inf, np.nan).dropna(subset=["ratio"])
    return seed_band(ax, ratio, x, "ratio", log=True, **band)


def label_panels(axes, labels: list[dict], **legend_kw) -> None:
    """Each axis of `axes` set with its dict of `labels` (axis labels, scales, title), then its `legend`."""
    for ax, kw in zip(axes, labels):
        ax.set(**kw)
        legend(ax, **legend_kw)


def target_bands(axes, panels: list, x: str, hue: str | None = None, xlabel: str | None = None,
                 legend_kw: dict | None = None, **band) -> None:
    """One panel per (frame, y, target, label, title) of `panels`, on `axes` in order: `seed_band`
    of y against x per hue and, dashed, the `theory_line` at target(the frame's first row) with `label`."""
    for ax, (frame, y, target, label, title) in zip(axes, panels):
        seed_band(ax, frame, x, y, hue, **band)
        theory_line(ax, float(target(frame.iloc[0])), label)
        ax.set(xlabel=xlabel or x, title=title)
        legend(ax, **(legend_kw or {}))


def extreme_bands(axes, extremes: pd.DataFrame, by, names: dict, target: float = 1.0, target_label: str = "1",
                  **panel) -> list:
    """`panel_bands` over steps, one panel per value of `by`, of the largest and smallest singular
    value of each quantity (`estimators.singular_extremes`), lines `names[quantity] σ_max` and
    `… σ_min` on a log axis, with the target as a dashed line. Returns the panels' values."""
    long = extremes.melt(id_vars=[c for c in extremes if c not in ("max", "min")], value_vars=["max", "min"],
                         var_name="σ")
    long["line"] = long["quantity"].map(names) + " σ_" + long["σ"]
    keys = panel_bands(axes, long, by, "step", "value", "line", log=True, **panel)
    for ax in axes.flat[:len(keys)]:
        theory_line(ax, target, target_label)
        legend(ax, fontsize="x-small")
    return keys


def one_legend(axes) -> None:
    """Keep the first panel's legend only, where every panel draws the same lines."""
    for ax in axes.flat[1:]:
        if ax.get_legend() is not None:
            ax.get_legend().remove()


def scalar_map_panels(axes, frame: pd.DataFrame, by: str, hue: str, colors: dict, scalar_map, xlabel: str,
                      ylabel: str, x_min: float = 1e-4, ylim=None, **kw) -> list:
    """`panel_scatter` of `output` against `input` (`estimators.paired_spectra`: singular values of
    the same rank) per hue, with the hue's scalar map σ ↦ `scalar_map(hue, σ)` dashed over
    [x_min, 1], on a log x axis; the legend on the first panel. Returns the panels' values."""
    x = np.geomspace(x_min, 1, 300)
    keys = panel_scatter(axes, frame, by, "input", "output", hue, colors, lambda h: (x, scalar_map(h, x)), **kw)
    for ax in axes.flat:
        ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, ylim=ylim)
    axes.flat[0].legend(fontsize="x-small", markerscale=3)
    return keys
