"""How exact must Muon's polar factor be (docs/claims.md C13)? Newton–Schulz, Polar Express, SVD.

Per setting (problem and its options) and method (orthogonalizer × iterations; `NS-5` is the
default quintic with 5 steps, `PE-5` Polar Express with 5, `SVD` the exact UVᵀ):

* final metric (excess loss for linear regression, the noise-free loss for the scale-invariant
  problem) at the method's best lr: the lr with the smallest mean over seeds of log final
  metric; its geometric mean over seeds with a t-interval in log space;
* orthogonalization error: per run, the median over probed steps of ‖O − UVᵀ‖_F/‖UVᵀ‖_F
  (`orthogonality` probe), geometric mean over seeds at the best lr;
* time per step of the orthogonalizer: measured here, at render time, on a float32 batch of the
  setting's shape `[K, m, n]` (K = configs per batch), CPU time of one thread, all methods
  interleaved (`bench.orthogonalizers.interleaved_seconds`);
* the spectra: σ_i(O) against σ_i(U)/‖U‖_F at the best lr, with the scalar maps of the
  polynomials (what each does to one singular value) dashed.

Checks: `C13-orth-exactness` ("SVD reaches a lower final metric than NS-5") and
`C13-orth-polar-express` ("PE-5 lower than NS-5"), each paired over seeds per setting with a
10 % margin on the ratio, inconclusive when either method's best lr is at an edge of the grid.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .. import checks, plotting
from ..bench.orthogonalizers import interleaved_seconds, orthogonalizer
from ..optim.orthogonalize import polar_express_schedule
from . import THEORY, Analysis, Figure, new_figure

METRIC = {"linear_regression": "excess_loss", "scale_invariant": "loss"}
COLOURS = plotting.palette(["newton_schulz", "polar_express", "svd"])  # fixed per name in every figure
SHORT = {"newton_schulz": "NS", "polar_express": "PE", "svd": "SVD"}
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
MARGIN = 0.1  # log-ratio margin of the orderings: a ≥ 10 % difference in the final metric

EXACTNESS = checks.Check(
    "C13", "C13-orth-exactness", "final metric SVD / NS-5 (geometric mean ratio)",
    "per seed the final metric at each method's best lr (cosine decay to 0; lr chosen by mean log "
    "final metric over seeds), paired log ratio", "exact polar factor better than 5 Newton–Schulz steps: "
    "ratio below e^−0.1", MARGIN, kind="hypothesis")
POLAR_EXPRESS = checks.Check(
    "C13", "C13-orth-polar-express", "final metric PE-5 / NS-5 (geometric mean ratio)",
    EXACTNESS.estimator, "5 Polar Express steps better than 5 Newton–Schulz steps: ratio below e^−0.1", MARGIN, kind="hypothesis")


def scalar_map(x: np.ndarray, orthogonalizer: str, steps: int) -> np.ndarray:
    """What the iteration does to one singular value x of U/‖U‖_F (1 for the SVD)."""
    if orthogonalizer == "svd":
        return np.ones_like(x)
    if orthogonalizer == "newton_schulz":
        triples = [NS_COEFFICIENTS] * steps
    else:
        triples, x = polar_express_schedule(steps), x / 1.01
    for a, b, c in triples:
        x = a * x + b * x**3 + c * x**5
    return x


def label(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    is_lr = frame["problem"] == "linear_regression"
    lr_setting = ("κ=" + frame["condition_number"].map("{:g}".format, na_action="ignore") + ", D="
                  + frame["D"].map("{:g}".format, na_action="ignore") + ", "
                  + np.where(frame["batch_size"] == 0, "full batch", "batch " + frame["batch_size"].map("{:g}".format)))
    frame["setting"] = np.where(is_lr, lr_setting, "scale-invariant, row norm")
    frame["method"] = np.where(frame["orthogonalizer"] == "svd", "SVD",
                               frame["orthogonalizer"].map(SHORT) + "-" + frame["ns_steps"].astype(str))
    frame["steps_used"] = np.where(frame["orthogonalizer"] == "svd", np.nan, frame["ns_steps"])
    return frame


def finals(metrics: pd.DataFrame) -> pd.DataFrame:
    out = [checks.final_values(metrics[metrics["problem"] == p], m) for p, m in METRIC.items() if (metrics["problem"] == p).any()]
    final = pd.concat(out, ignore_index=True)
    final["log_value"] = np.log(final["value"])
    return final


def geo_interval(values) -> tuple[float, float, float]:
    mean, low, high = checks.t_interval(np.log(np.asarray(values, dtype=float)))
    return tuple(math.exp(v) if math.isfinite(v) else math.nan for v in (mean, low, high))


def shape_of(row: pd.Series) -> tuple[int, int]:
    if row["problem"] == "linear_regression":
        return int(row["d"]) + 1, int(row["D"])
    return int(row["d_out"]), int(row["d_in"])


def time_per_step(at_best: pd.DataFrame, batch: int) -> dict[tuple, float]:
    """Seconds per call of each method on a float32 `[batch, m, n]` input, per matrix shape."""
    out = {}
    methods = at_best[["method", "orthogonalizer", "ns_steps"]].drop_duplicates().values.tolist()
    for shape in sorted({shape_of(r) for _, r in at_best.drop_duplicates("setting").iterrows()}):
        G = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
        eps = torch.full((batch,), 1e-7)
        runs = [orthogonalizer(o, int(s), eps) for _, o, s in methods]
        seconds = interleaved_seconds([lambda run=run: run(G) for run in runs], torch.device("cpu"), 7)
        out.update({(shape, m): s for (m, _, _), s in zip(methods, seconds)})
    return out


def analyze(tables, spec) -> Analysis:
    metrics = label(tables["metrics"])
    final = finals(metrics)
    keys = ["setting", "method"]
    best = checks.best_points(final, "lr", keys).rename(columns={"best": "lr"})
    edge = {(s, m): e for s, m, e in best[keys + ["at_edge"]].values}
    best = best[keys + ["lr"]]
    at_best = final.merge(best, on=keys + ["lr"])

    orth = tables.get("orthogonality", pd.DataFrame())
    error = pd.Series(dtype=float)
    if not orth.empty:
        pe = orth[orth["quantity"] == "polar_error"]
        error = pe.groupby("run")["value"].median()
    at_best["polar_error"] = at_best["run"].map(error)
    batch = int(len(final) / final[keys].drop_duplicates().shape[0] / len(spec.seeds)) * len(spec.seeds)
    timing = time_per_step(at_best, batch)
    at_best["seconds"] = [timing[(shape_of(r), r["method"])] for _, r in at_best.iterrows()]

    rows = []
    for (setting, method), g in at_best.groupby(keys, sort=False):
        gm, low, high = geo_interval(g["value"])
        rows.append({"setting": setting, "method": method, "orthogonalizer": g["orthogonalizer"].iloc[0],
                     "steps": g["steps_used"].iloc[0], "best lr": g["lr"].iloc[0],
                     "best lr at grid edge": edge[(setting, method)],
                     "final metric (geo. mean)": gm, "95 % low": low, "95 % high": high,
                     "diverged seeds": int((~np.isfinite(g["value"])).sum()),
                     "polar error (median over steps)": geo_interval(g["polar_error"])[0],
                     f"orthogonalizer µs per step (K={batch})": 1e6 * g["seconds"].iloc[0]})
    table = pd.DataFrame(rows).sort_values(["setting", "orthogonalizer", "steps"]).reset_index(drop=True)
    settings = list(dict.fromkeys(table["setting"]))

    outcomes, numbers = compare(at_best, settings, edge)
    figures = [tradeoff_figure(table, settings), steps_figure(table, settings),
               cost_figure(table, batch)]
    notes = []
    if not orth.empty:
        spectra = orth[orth["run"].isin(at_best["run"])]
        fig, spectrum_numbers = spectra_figure(label(spectra), settings)
        figures.append(fig)
        numbers.update(spectrum_numbers)
    else:
        notes.append("*The orthogonality probe table is missing: no errors or spectra.*")
    verdict = verdict_text(table, outcomes, numbers, settings)
    return Analysis(figures=figures, table=table, numbers=numbers, verdict=verdict, notes=notes,
                    checks=outcomes)


def compare(at_best: pd.DataFrame, settings: list[str], edge: dict) -> tuple[list, dict]:
    """Paired orderings per setting (SVD vs NS-5, PE-5 vs NS-5) and their headline rows."""
    outcomes, numbers = [], {}
    for check, method in ((EXACTNESS, "SVD"), (POLAR_EXPRESS, "PE-5")):
        per_setting = []
        for setting in settings:
            here = at_best[at_best["setting"] == setting].pivot_table(index="seed", columns="method", values="value")
            if method not in here or "NS-5" not in here:
                continue
            edges = [m for m in (method, "NS-5") if edge[(setting, m)]]
            regime = checks.Regime(not edges, "best lr inside the grid for both" if not edges else
                                   f"best lr at a grid edge for {', '.join(edges)}", "grid edge")
            o = checks.ordering(check, here[method], here["NS-5"], group=setting, regime=regime)
            per_setting.append(o)
            numbers[f"{method} / NS-5 final metric, {setting}"] = (f"{o.measured:.3g} [{o.ci_low:.3g}, "
                                                                   f"{o.ci_high:.3g}]")
        if per_setting:
            outcomes += [checks.combine(check, per_setting), *per_setting]
    return outcomes, numbers


def classify(o: checks.Outcome) -> str:
    """The ratio's 95 % interval against 1 and the margin e^±m: which way, and whether by more than m."""
    if not (math.isfinite(o.ci_low) and math.isfinite(o.ci_high)):
        return "unresolved"
    if o.ci_high < 1:
        return "helps" + (" by more than 10 %" if o.ci_high < math.exp(-MARGIN) else "")
    if o.ci_low > 1:
        return "hurts" + (" by more than 10 %" if o.ci_low > math.exp(MARGIN) else " (by less than 10 %)")
    if math.exp(-MARGIN) <= o.ci_low and o.ci_high <= math.exp(MARGIN):
        return "makes no difference (tied within ±10 %)"
    return "makes no resolved difference (interval contains 1 and exceeds ±10 %)"


def verdict_text(table: pd.DataFrame, outcomes: list, numbers: dict, settings: list[str]) -> str:
    lines = []
    for name, check in (("the exact polar factor (SVD)", EXACTNESS), ("Polar Express, 5 steps", POLAR_EXPRESS)):
        groups = [o for o in outcomes if o.check.id == check.id and o.group]
        if not groups:
            continue
        kinds = pd.Series([classify(o) for o in groups]).value_counts()
        spans = "; ".join(f"{o.group}: {o.measured:.3g} [{o.ci_low:.3g}, {o.ci_high:.3g}]" for o in groups)
        lines.append(f"Against 5 Newton–Schulz steps, {name} " + "; ".join(f"{k} in {v}" for k, v in kinds.items())
                     + f" of {len(groups)} settings (final-metric ratio, geometric mean over seeds with its 95 % "
                     f"interval, each at its best lr: {spans}).")
    err = table.pivot_table(index="setting", columns="method", values="polar error (median over steps)")
    if {"NS-5", "PE-5", "SVD"} <= set(err.columns):
        lines.append(f"Orthogonalization error ‖O − UVᵀ‖_F/‖UVᵀ‖_F along the best runs (median over steps): NS-5 "
                     f"{err['NS-5'].min():.2g}–{err['NS-5'].max():.2g}, PE-5 {err['PE-5'].min():.2g}–"
                     f"{err['PE-5'].max():.2g}, SVD {err['SVD'].max():.1g} or less (float32 rounding).")
    large = [o for o in outcomes if o.check.id == EXACTNESS.id and o.group and classify(o).endswith("than 10 %")]
    means = table.pivot_table(index="setting", columns="method", values="final metric (geo. mean)")
    winners = means.idxmin(axis=1)
    lines.append("Lowest final metric over all methods: " + "; ".join(
        f"{s}: {winners[s]} ({means.loc[s, winners[s]]:.2g}, NS-5 {means.loc[s, 'NS-5']:.2g})" for s in means.index)
        + f". (Best of {means.shape[1]} methods on the same seeds: a selection, not a test.)")
    spread = numbers.get("output σ 5–95 % range, NS-5 / PE-5 (over settings)")
    if spread:
        lines.append(f"Why, from the spectra: NS-5, PE-5 and the SVD all put the momentum's singular values near 1 "
                     f"({spread}; SVD exactly 1), so they step along the same singular directions with "
                     f"per-direction sizes inside those ranges; they differ much only on input singular values below "
                     f"≈ 10⁻³·‖U‖_F, which the polynomials leave below 1 and the SVD raises to 1, and these are "
                     f"{numbers['share of input σ_i(U) < 10⁻³·‖U‖_F (over settings)']} of the input spectrum. "
                     + ("A more exact polar factor changes the step little, and the final metric with it." if not large
                        else f"Still, the SVD changes the final metric by more than 10 % in {len(large)} setting(s): "
                             + "; ".join(o.group for o in large) + "."))
    flagged = table[table["best lr at grid edge"] & table["method"].isin(["NS-5", "PE-5", "SVD"])]
    if len(flagged):
        lines.append(f"Best lr at an edge of the grid for {len(flagged)} of the compared (setting, method) pairs "
                     f"(their checks are inconclusive): " + "; ".join(f"{s} {m}" for s, m in flagged[["setting", "method"]].values)
                     + f". Over all methods, {int(table['best lr at grid edge'].sum())} of {len(table)} best lrs sit at an edge.")
    return "\n\n".join(lines)


# ----- figures --------------------------------------------------------------------------------------
def _panels(n: int):
    ncols = min(3, n)
    return new_figure(ncols, math.ceil(n / ncols), width=3.8, height=3.2)


def _log_errorbars(ax, x, row, colour, marker="o", label=None):
    y = row["final metric (geo. mean)"]
    low, high = row["95 % low"], row["95 % high"]
    yerr = [[y - low], [high - y]] if np.isfinite([low, high]).all() else None
    ax.errorbar([x], [y], yerr=yerr, fmt=marker, color=colour, ms=5, capsize=2, label=label)


def tradeoff_figure(table: pd.DataFrame, settings: list[str]) -> Figure:
    fig, axes = _panels(len(settings))
    for ax, setting in zip(axes.flat, settings):
        here = table[table["setting"] == setting]
        for orth, g in here.groupby("orthogonalizer"):
            for _, row in g.iterrows():
                if row["diverged seeds"]:
                    ax.plot(row["polar error (median over steps)"], ax.get_ylim()[1], "x", color=COLOURS[orth])
                    continue
                _log_errorbars(ax, row["polar error (median over steps)"], row, COLOURS[orth])
                ax.annotate(row["method"].split("-")[-1] if orth != "svd" else "SVD",
                            (row["polar error (median over steps)"], row["final metric (geo. mean)"]),
                            textcoords="offset points", xytext=(4, 3), fontsize=7, color=COLOURS[orth])
        ax.set(xscale="log", yscale="log", xlabel="‖O − UVᵀ‖_F / ‖UVᵀ‖_F (median over steps)",
               ylabel="final metric at best lr", title=setting)
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    handles = [axes.flat[0].plot([], [], "o", color=c, label=SHORT[k])[0] for k, c in COLOURS.items()]
    axes.flat[0].legend(handles=handles, fontsize="x-small")
    caption = ("Final metric at each method's best lr (geometric mean over seeds, bars: 95 % t-interval in log "
               "space) against its orthogonalization error; numbers: iterations. Excess loss for linear "
               "regression, noise-free loss for the scale-invariant problem. A diverged method would be an ×.")
    return Figure("tradeoff", fig, caption)


def steps_figure(table: pd.DataFrame, settings: list[str]) -> Figure:
    fig, axes = _panels(len(settings))
    for ax, setting in zip(axes.flat, settings):
        here = table[table["setting"] == setting]
        for orth, g in here.groupby("orthogonalizer"):
            if orth == "svd":
                row = g.iloc[0]
                ax.axhline(row["final metric (geo. mean)"], color=COLOURS[orth], label="SVD (exact)")
                if np.isfinite([row["95 % low"], row["95 % high"]]).all():
                    ax.axhspan(row["95 % low"], row["95 % high"], color=COLOURS[orth], alpha=0.15, linewidth=0)
                continue
            g = g.sort_values("steps")
            ok = g["diverged seeds"] == 0
            ax.plot(g["steps"][ok], g["final metric (geo. mean)"][ok], "-o", color=COLOURS[orth], ms=4,
                    label=SHORT[orth])
            ax.fill_between(g["steps"][ok], g["95 % low"][ok], g["95 % high"][ok], color=COLOURS[orth], alpha=0.2,
                            linewidth=0)
        ax.set(yscale="log", xlabel="iterations", ylabel="final metric at best lr", title=setting)
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="x-small")
    caption = ("Final metric at the best lr against the number of iterations (band: 95 % t-interval over seeds, "
               "in log space); the SVD's exact polar factor as a horizontal line and band.")
    return Figure("steps", fig, caption)


def cost_figure(table: pd.DataFrame, batch: int) -> Figure:
    time_col = f"orthogonalizer µs per step (K={batch})"
    shapes = table.drop_duplicates("setting")[["setting"]]
    fig, axes = new_figure(1, 1, width=4.6, height=3.4)
    ax = axes[0, 0]
    per = table.groupby(["orthogonalizer", "method"], as_index=False)[[time_col, "polar error (median over steps)"]].median()
    for orth, g in per.groupby("orthogonalizer"):
        ax.scatter(g[time_col], g["polar error (median over steps)"], color=COLOURS[orth], label=SHORT[orth], s=18)
        for _, row in g.iterrows():
            ax.annotate(row["method"], (row[time_col], row["polar error (median over steps)"]), fontsize=6,
                        textcoords="offset points", xytext=(3, 2))
    ax.set(xscale="log", yscale="log", xlabel=f"µs per call on [K={batch}, m, n] (CPU, one thread)",
           ylabel="‖O − UVᵀ‖_F / ‖UVᵀ‖_F")
    ax.legend(fontsize="x-small")
    caption = (f"Cost against exactness: each method's time per step (median over the {len(shapes)} settings' "
               "shapes, measured at render time on a shared machine) and its orthogonalization error (median "
               "over settings). `make bench` has the same table on larger shapes.")
    return Figure("cost", fig, caption)


def spectra_figure(orth: pd.DataFrame, settings: list[str]) -> tuple[Figure, dict]:
    """σ_i(O) against σ_i(U)/‖U‖_F for NS-5, PE-5 and SVD at the best lr, with the scalar maps."""
    shown = ["NS-5", "PE-5", "SVD"]
    spec = orth[orth["method"].isin(shown) & orth["quantity"].isin(["input_spectrum", "output_spectrum"])]
    # seed before run: points are drawn in seed order, not in the order of the runs' hashes
    wide = spec.pivot_table(index=["setting", "method", "seed", "run", "step", "index"], columns="quantity",
                            values="value").reset_index()
    fig, axes = _panels(len(settings))
    numbers = {}
    x = np.geomspace(1e-4, 1, 300)
    for ax, setting in zip(axes.flat, settings):
        here = wide[wide["setting"] == setting]
        for method in shown:
            pts = here[here["method"] == method]
            orth_name = {"NS": "newton_schulz", "PE": "polar_express", "SVD": "svd"}[method.split("-")[0]]
            ax.scatter(pts["input_spectrum"], pts["output_spectrum"], s=4, alpha=0.4, color=COLOURS[orth_name],
                       linewidth=0, label=method)
            ax.plot(x, scalar_map(x, orth_name, 5), **{**THEORY, "color": COLOURS[orth_name]})
        ax.set(xscale="log", xlabel="input σ_i(U)/‖U‖_F", ylabel="output σ_i(O)", title=setting, ylim=(0, 1.4))
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="x-small", markerscale=3)
    ranges = [np.nanpercentile(wide[wide["method"] == m]["output_spectrum"], [5, 95]) for m in ("NS-5", "PE-5")]
    numbers["output σ 5–95 % range, NS-5 / PE-5 (over settings)"] = " / ".join(
        f"NS-5 [{lo:.2f}, {hi:.2f}]" if i == 0 else f"PE-5 [{lo:.2f}, {hi:.2f}]" for i, (lo, hi) in enumerate(ranges))
    tiny = wide[wide["method"] == "NS-5"]["input_spectrum"]
    numbers["share of input σ_i(U) < 10⁻³·‖U‖_F (over settings)"] = f"{100 * float((tiny < 1e-3).mean()):.2g} %"
    caption = ("What each orthogonalizer does to the spectrum of Muon's momentum at the best lr, every probed step "
               "and seed: output singular values against the input's (Frobenius-normalised, ranks matched); "
               "dashed: the scalar map of 5 iterations of each polynomial (for the SVD, 1).")
    return Figure("spectra", fig, caption), numbers
