"""One example figure per probe (README, Probes): what `norms`, `spectra` and `moments` record.

Not a claim: a small AdamW and Muon run on ill-conditioned linear regression, probed every few
steps, drawn the way the studies draw them. Numbers: the update RMS of AdamW's direction beside
√((1−β1)/(1+β1)) (docs/claims.md C1, which assumes zero-mean gradients, so it is only a yardstick
here), how much Newton–Schulz flattens Muon's spectrum and how far its output is from
orthogonal, and the late KL.
"""
from __future__ import annotations

import matplotlib as mpl
import numpy as np

from .. import plotting, theory
from . import Analysis, Figure, new_figure

NORMS = ["rms_weights", "rms_update", "rms_grad", "rms_direction", "grad_to_weights", "cos_grad_weights"]


def analyze(tables, spec) -> Analysis:
    norms, spectra, moments = tables["norms"], tables["spectra"], tables["moments"]
    optimizers = sorted(norms["optimizer"].unique())
    late = norms["step"] >= norms["step"].max() / 2

    fig_n, axes = new_figure(len(NORMS) // 2, 2, width=3.4, height=2.6)
    for ax, quantity in zip(axes.flat, NORMS):
        rows = norms[norms["quantity"] == quantity]
        ax.set_yscale("log" if quantity.startswith("rms") else "linear")
        plotting.seed_band(ax, rows, x="step", y="value", hue="optimizer")
        if quantity == "rms_direction":
            plotting.theory_line(ax, float(theory.adam_update_rms(0.9)), "C1 √((1−β1)/(1+β1)), β1 = 0.9")
        ax.set(title=quantity, xlabel="step", ylabel="value")
        if quantity in (NORMS[0], "rms_direction"):
            plotting.legend(ax, fontsize="xx-small")

    fig_s, axes = new_figure(len(optimizers), 2, width=3.8, height=2.8, sharey=True)
    for col, opt in enumerate(optimizers):
        for row, which in enumerate(["grad", "direction"]):
            rows = spectra[(spectra["optimizer"] == opt) & (spectra["quantity"] == which) & (spectra["seed"] == 0)]
            ax = axes[row, col]
            indices = sorted(rows["index"].unique())
            norm = mpl.colors.Normalize(min(indices), max(indices))
            for i in indices:
                r = rows[rows["index"] == i].sort_values("step")
                ax.plot(r["step"], r["value"], color=mpl.colormaps["viridis"](norm(i)), linewidth=1)
            ax.set(yscale="log", title=f"{opt}: σ_i of {'G_t' if which == 'grad' else 'the direction'}",
                   xlabel="step", ylabel="singular value")
            fig_s.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label="index i (0 = largest σ)")

    kl = moments[moments["quantity"] == "kl_pq_per_coord"]
    fig_m, axes = new_figure(1, 1, width=5.0, height=3.4)
    kl_lines = kl.assign(p_q=kl["reference"].astype(str) + ", " + kl["moments"].astype(str))
    axes[0, 0].set_yscale("log")
    plotting.seed_band(axes[0, 0], kl_lines, x="step", y="value", hue="p_q")
    axes[0, 0].set(xlabel="step", ylabel="KL(p‖q) per coordinate (nats)")
    plotting.legend(axes[0, 0], fontsize="x-small", title="p reference, q moments", title_fontsize="x-small")

    def late_median(frame, **match):
        rows = frame[frame["step"] >= frame["step"].max() / 2]
        for k, v in match.items():
            rows = rows[rows[k] == v]
        return float(np.median(rows["value"]))

    rms, c1 = late_median(norms, optimizer="adamw", quantity="rms_direction"), float(theory.adam_update_rms(0.9))
    muon = spectra[(spectra["optimizer"] == "muon") & (spectra["step"] >= spectra["step"].max() / 2)]
    spread = muon[muon["quantity"].isin(["grad", "direction"])].groupby(["quantity", "run", "step"])["value"]
    cond = (spread.max() / spread.min()).groupby("quantity").median()
    numbers = {
        "AdamW RMS(m̂/(√v̂+ε)), second half (median)": f"{rms:.3g}",
        "C1 √((1−β1)/(1+β1)), β1 = 0.9": f"{c1:.3g}",
        "Muon σ_max/σ_min of G_t / of the NS output, second half (median)":
            f"{cond['grad']:.3g} / {cond['direction']:.3g}",
        "Muon ‖OᵀO − I‖_F, second half (median)":
            f"{late_median(spectra, optimizer='muon', quantity='orthogonality_error'):.3g}",
        "AdamW KL(p‖q) per coordinate, bias-corrected vs minibatch, second half (median)":
            f"{late_median(kl, moments='bias_corrected', reference='minibatch'):.3g}",
    }
    verdict = (f"A gallery, not a claim: every number is read from the probe tables of these runs. AdamW's "
               f"direction RMS, {rms:.3g}, is {abs(rms / c1 - 1):.0%} {'above' if rms > c1 else 'below'} C1's "
               f"zero-mean value {c1:.3g} (these gradients are not zero-mean). Newton–Schulz turns a gradient "
               f"spectrum with σ_max/σ_min ≈ {cond['grad']:.3g} into one with ≈ {cond['direction']:.3g}.")
    figures = [Figure("norms", fig_n, "The norms probe: RMS of weights, update, gradient and direction, ‖g‖/‖w‖ and "
                      "cos(g, w) over training (line: mean over seeds, geometric on log axes; band ±2 s.e., ×/÷ in log space; "
                      "dashed: C1's √((1−β1)/(1+β1))."),
               Figure("spectra", fig_s, "The spectra probe: every singular value σ_i of the gradient G_t and of "
                      "the update direction (Muon: the Newton–Schulz output), seed 0; colour = index i (colour bar)."),
               Figure("moments", fig_m, "The moments probe: KL(p‖q) per coordinate between the gradient's law p "
                      "(minibatch, per-example or population statistics) and Adam's q = N(m, v − m²), raw and "
                      "bias-corrected (geometric mean over seeds, band ×/÷ 2 s.e.).")]
    table = (norms[late].groupby(["optimizer", "quantity"])["value"].median().unstack().reset_index())
    return Analysis(figures=figures, table=table, numbers=numbers, verdict=verdict)
