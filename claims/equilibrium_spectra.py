"""C16 (docs/claims.md): under pure gradient noise, the equilibrium weights W = −η Σ_k β^k U_{t−k}
(β = 1 − ηλ) of AdamW, Signum and Muon are an i.i.d.-entry matrix whose singular values fill the
Marchenko–Pastur bulk of entry variance v = η²/(1 − β²)·Σ_{k∈ℤ} β^|k| c_|k|, c_k the updates'
autocorrelation (`theory.equilibrium_spectrum`).

On `matrix_noise` (G ~ N(0, 1) i.i.d., W_0 = 0), per optimizer and seed, averaged over the probes of
the `spectra` probe in the window [T/2, T] (≥ `relaxation_times` × 1/(ηλ) in):

    C16-bulk  the bulk edge √v̂(√m + √n) of the MP law with the measured v̂ = Σσ_i²/(mn), against
              √v(√m + √n) with v predicted from c_k: AdamW C2's (1 − β1)/(1 + β1)·β1^k, Signum C3's
              (2/π)arcsin(β1^k), Muon without momentum c_0 = s²·E‖O‖_F²/(mn) with E‖O‖_F² the mean
              of the measured direction spectrum (Newton–Schulz's σ_i(O) are not 1), c_k = 0 beyond
    C16-top   σ_max against its finite-size mean at that v (Johnstone: `expected_top_singular_value`)

Both are relative equivalences with `tolerance`; a group whose σ_max drifts between the window's
halves by more than `drift` × the tolerance, or whose window starts too early, is inconclusive.
(The drift is that of the bulk edge: σ_max alone, correlated over 1/(2ηλ) steps, is too noisy for it.)
"""
import numpy as np
import pandas as pd

from toylab import checks, plotting, theory
from toylab.analyses import Analysis, Figure, new_figure
from toylab.optim.muon import LR_SCALE

SPEC = """
title = "Equilibrium spectra of AdamW, Signum and Muon under pure gradient noise"
claim = "C16"
question = "Under noise-dominated gradients, do the singular values of the equilibrium weights fill the Marchenko–Pastur bulk predicted from the updates' statistics, η and λ, with σ_max at its finite-size mean?"
steps = 800
seeds = [0, 1, 2, 3]
metric_every = 100
probes = ["spectra"]
probe_every = 50

[[problems]]
name = "matrix_noise"
m = 96
n = 48

[[optimizers]]
name = "adamw"
lr = 0.01
weight_decay = 1.0
betas = [0.9, 0.999]
eps = 1e-12

[[optimizers]]
name = "signsgd"
lr = 0.01
weight_decay = 1.0
momentum = 0.9

[[optimizers]]
name = "muon"
lr = 0.01
weight_decay = 1.0
momentum = 0.0
nesterov = false

[quick]
steps = 40
seeds = [0, 1]
probe_every = 10
"""
# tolerance: relative, on the edge and σ_max (their noise over 4 seeds: ±1–2 %); relaxation_times:
# where the window may start, in 1/(ηλ); drift: the bulk edge between the window's halves, × the tolerance
SETTINGS = {"tolerance": 0.05, "relaxation_times": 3, "drift": 0.5}
NAMES = {"adamw": "AdamW", "signsgd": "Signum", "muon": "Muon"}
NOTES = [
    "**Derivation.** Decoupled decay makes the step W_t = βW_{t−1} − ηU_t with β = 1 − ηλ, so from W_0 = 0 "
    "W_t = −η Σ_{k<t} β^k U_{t−k}: an EMA of the updates. If the entries of U are independent across (i, j), "
    "zero-mean, with E[U_{ij,s}U_{ij,s+k}] = c_k, each entry of W has the variance "
    "v = η² Σ_{j,k≥0} β^{j+k} c_|j−k| → η²/(1 − β²)·Σ_{k∈ℤ} β^|k| c_|k| ≈ η/(2λ)·Σ_{k∈ℤ} c_|k| (t ≫ 1/(ηλ)), "
    "C2's and C3's walk. AdamW: U = m̂/√v̂ ≈ m/σ with m the EMA of the gradient, c_k = (1 − β1)/(1 + β1)·β1^k "
    "(C2); Signum: U = sign(m), c_k = (2/π)·arcsin(β1^k) (arcsine law, C3). Each entry is a sum of ≈ 1/(2ηλ) "
    "terms and the entries are independent, so W is an m×n matrix of i.i.d. entries of variance v: "
    "its singular values fill the Marchenko–Pastur bulk [√v|√m − √n|, √v(√m + √n)] with density "
    "√((b − x)(x − a))/(2πyx)·2σ/(vq), x = σ²/(vq), y = p/q, [a, b] = [(1 ∓ √y)²] (p, q = min, max(m, n)), "
    "and at finite size E[σ_max]² ≈ v(μ + s·E[TW₁]), μ = (√(q − 1) + √p)², "
    "s = (√(q − 1) + √p)(1/√(q − 1) + 1/√p)^{1/3}, E[TW₁] = −1.2065 (Johnstone 2001).",
    "**Muon.** Without momentum U_t = s·O_t with O_t = NS(G_t): for Gaussian G_t its singular vectors are Haar, "
    "so the O_t are independent, orthogonally invariant and (as m, n → ∞) free; the weighted sum of many of "
    "them converges to the same Marchenko–Pastur law (free central limit) with v = η²/(1 − β²)·s²E‖O‖_F²/(mn). "
    "The exact polar factor has ‖O‖_F² = min(m, n), c_0 = s²/max(m, n); Newton–Schulz's quintic leaves "
    "σ_i(O) spread over ≈ [0.68, 1.13], so c_0 is taken from the measured direction spectrum (the table's "
    "c_0; with the polar value instead, v would be off by the ratio of the two). With momentum the O_t are "
    "correlated and c_k would have to be measured from the update sequence, which no probe records: not "
    "covered here. Muon's noise equilibrium sits far inside its spectral ceiling s/λ (C15): λσ_max/s ≈ "
    "√(2ηλ·E‖O‖_F²/min(m, n))·(1 + √(min/max)) in the table's last column.",
]


def autocorrelation(r, direction: pd.DataFrame, m: int, n: int) -> np.ndarray:
    """c_k of the update's entries (unit gradient noise): C2's, C3's, or Muon's c_0 from its measured O."""
    if r.optimizer == "adamw":
        return theory.ema_autocorrelation(float(r.betas.split(",")[0]))
    if r.optimizer == "signsgd":
        return theory.sign_ema_autocorrelation(r.momentum)
    frobenius = (direction.value**2).groupby([direction.seed, direction.step]).sum().mean()
    return np.array([LR_SCALE[r.adjust_lr](m, n) ** 2 * frobenius / (m * n)])


def analyze(tables, spec) -> Analysis:
    sp, tol = tables["spectra"], spec.settings["tolerance"]
    T = int(sp["step"].max())
    start = T / 2
    W = sp[(sp["quantity"] == "weights") & (sp["step"] >= start)]
    m, n = int(sp["m"].iloc[0]), int(sp["n"].iloc[0])
    needs = checks.Needs(relaxation_times=spec.settings["relaxation_times"], drift=spec.settings["drift"])
    estimator = f"per seed, mean over the probes at steps {start:g}–{T}"
    bulk = checks.Check("C16", "C16-bulk", "bulk edge √v̂(√m+√n)", f"{estimator} of √(Σσ_i²/(mn))·(√m+√n)",
                        "√v(√m+√n), v = η²/(1−β²)·Σβ^|k|c_|k|", tol, needs=needs, kind="hypothesis")
    top = checks.Check("C16", "C16-top", "σ_max(W)", f"{estimator} of σ_max", "finite-size E[σ_max] at the "
                       "predicted v (Johnstone)", tol, needs=needs, kind="hypothesis")
    groups, rows, fig, axes = {bulk: [], top: []}, [], *new_figure(3, width=4.0)
    for ax, (name, g) in zip(axes[0], W.groupby("optimizer", sort=False)):
        r = g.iloc[0]
        c = autocorrelation(r, sp[(sp["quantity"] == "direction") & (sp["optimizer"] == name)], m, n)
        v = float(theory.stationary_walk_variance(r.lr, r.weight_decay, c))
        lower, edge = theory.marchenko_pastur_edges(v, m, n)
        expected = float(theory.expected_top_singular_value(v, m, n))
        per_step = g.assign(s2=g["value"] ** 2).groupby(["seed", "step"])["s2"].sum().reset_index()
        per_step["value"] = np.sqrt(per_step["s2"] / (m * n)) * (np.sqrt(m) + np.sqrt(n))
        sigma_max = g[g["index"] == 0]
        regime = (checks.relaxed(bulk, start, 1 / (r.lr * r.weight_decay), "relaxation times 1/(ηλ)")
                  & checks.stationarity(per_step, start, T, needs.drift * tol))
        label = NAMES[name]
        for check, frame, predicted in ((bulk, per_step, edge), (top, sigma_max, expected)):
            groups[check].append(checks.equivalence(check, frame.groupby("seed")["value"].mean(), predicted,
                                                    group=label, regime=regime))
        rows.append({"optimizer": label, "c_0": c[0], "v predicted": v, "v measured": per_step["s2"].mean() / (m * n),
                     "MP edge": edge, "E[σ_max]": expected, "σ_max measured": sigma_max["value"].mean(),
                     "λσ_max/s (Muon)": r.weight_decay * sigma_max["value"].mean() / LR_SCALE[r.adjust_lr](m, n)
                     if name == "muon" else np.nan})
        ax.hist(g["value"], bins=40, density=True, color=plotting.color(name), alpha=0.5,
                label=f"measured σ_i, {g['seed'].nunique()} seeds × {g['step'].nunique()} probes")
        x = np.linspace(lower, edge, 400)
        plotting.theory_line(ax, theory.marchenko_pastur_density(x, v, m, n), "Marchenko–Pastur at the predicted v", x=x)
        ax.axvline(expected, color="0.2", linestyle=":", label="predicted E[σ_max]")
        ax.axvline(sigma_max["value"].mean(), color=plotting.color(name), label="measured σ_max (mean)")
        ax.set(xlabel="singular value σ of W", ylabel="density", title=f"{label}, η = {r.lr:g}, λ = {r.weight_decay:g}")
        plotting.legend(ax, fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.22))
    outcomes = [o for check, gs in groups.items() for o in checks.headline(check, gs)]
    table = pd.DataFrame(rows)
    numbers = {f"{o.check_id}": f"{o.measured:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}] vs {o.predicted:.4g} "
               f"({100 * o.rel_error:+.2g} %)" for o in outcomes if o.group}
    return Analysis(figures=[Figure("spectra", fig, "Singular values of W in the window (histogram, pooled over seeds "
                                    "and probes) against the Marchenko–Pastur density at the v predicted from η, λ and "
                                    "the updates' autocorrelation (dashed); dotted: the finite-size mean of σ_max.")],
                    table=table, numbers=numbers, checks=outcomes, notes=NOTES)
