"""Honest-figure primitives: colours, log-space seed bands, diverged runs kept out of bands."""
import matplotlib.pyplot as plt
from matplotlib.collections import PathCollection
import numpy as np
import pandas as pd
import pytest

from toylab import plotting


def curves(values: dict[int, list[float]], hue="adamw", diverged=()):
    rows = [{"run": f"{hue}-{seed}", "seed": seed, "optimizer": hue, "step": step, "value": v,
             "diverged": seed in diverged} for seed, vs in values.items() for step, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_colour_of_a_name_does_not_depend_on_the_other_names():
    alone = plotting.palette(["muon"])["muon"]
    for others in (["adamw", "sgd"], ["zeta", "alpha", "sgd cosine"], ["Muon cosine", "x1", "x2", "x3"]):
        assert plotting.palette(others + ["muon"])["muon"] == alone
        assert plotting.palette(list(reversed(others + ["muon"])))["muon"] == alone
    assert plotting.color("MUON") == plotting.color("muon") == alone
    assert plotting.color("my variant") == plotting.color("my variant")  # hashed, stable


def test_palette_separates_hashed_names_and_keeps_fixed_ones_distinct():
    names = [f"variant {i}" for i in range(8)] + ["adamw", "sgd", "muon", "signsgd"]
    pal = plotting.palette(names)
    assert len(set(pal.values())) == len(names)
    assert plotting.palette(list(reversed(names))) == pal


def test_log_band_is_geometric_and_never_reaches_zero():
    # mean − 2 s.e. of these values is negative on a linear scale; in log space it stays > 0
    frame = curves({0: [1.0, 1e-6], 1: [1.0, 1.0], 2: [1.0, 1e-3]})
    linear = plotting.seed_stats(frame, "step", "value", log=False)
    assert (linear["low"] <= 0).any()
    log = plotting.seed_stats(frame, "step", "value", log=True)
    assert (log["low"] > 0).all()
    last = log[log["step"] == 1].iloc[0]
    logs = np.log([1e-6, 1.0, 1e-3])
    assert last["centre"] == pytest.approx(np.exp(logs.mean()), rel=1e-12)
    half = 2 * logs.std(ddof=1) / np.sqrt(3)
    assert last["low"] == pytest.approx(np.exp(logs.mean() - half), rel=1e-12)
    assert last["high"] == pytest.approx(np.exp(logs.mean() + half), rel=1e-12)


def test_drawn_log_band_stays_above_zero():
    frame = curves({s: list(np.exp(np.random.default_rng(s).normal(-5, 4, 50))) for s in range(4)})
    fig, ax = plt.subplots()
    plotting.seed_band(ax, frame, "step", "value", hue="optimizer", log=True)
    band = [c for c in ax.collections if c.get_paths()]
    assert band and all((c.get_paths()[0].vertices[:, 1] > 0).all() for c in band)
    plt.close(fig)


def test_diverged_nonfinite_and_exploding_runs_are_not_in_the_band():
    frame = pd.concat([curves({0: [1.0, 0.5], 1: [1.0, 0.7], 2: [1.0, 1e9], 3: [1.0, np.nan], 4: [1.0, 0.1]},
                              diverged={4})])
    stats = plotting.seed_stats(frame, "step", "value", explode=1e3)
    last = stats[stats["step"] == 1].iloc[0]
    assert last["n"] == 2
    assert last["centre"] == pytest.approx(0.6)
    bad = frame[plotting.excluded_runs(frame, "step", "value", explode=1e3)]
    assert sorted(bad["seed"].unique()) == [2, 3, 4]


def test_excluded_runs_are_marked_at_the_top_edge_with_a_legend_entry():
    frame = curves({0: [1.0, 0.5], 1: [1.0, np.inf]}, hue="sgd")
    fig, ax = plt.subplots()
    plotting.seed_band(ax, frame, "step", "value", hue="optimizer", log=True)
    labels = ax.get_legend_handles_labels()[1]
    assert "sgd" in labels and "diverged (top edge)" in labels
    marks = [c for c in ax.collections if c.get_offsets().size and c.get_transform() is not ax.transData]
    assert marks and all(np.allclose(c.get_offsets()[:, 1], 1.0) for c in marks)
    plt.close(fig)


def test_best_marker_and_theory_line_are_in_the_legend_once():
    fig, ax = plt.subplots()
    plotting.mark_best(ax, 1e-2, 0.3, "muon")
    plotting.mark_best(ax, 1e-3, 0.4, "adamw")
    plotting.theory_line(ax, 0.5, "theory: √(2λ/γ)")
    plotting.legend(ax)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts.count("best lr") == 1 and "theory: √(2λ/γ)" in texts
    plt.close(fig)


def test_a_diverged_curve_is_marked_once_where_it_was_lost():
    frame = curves({0: [1.0, 0.5, 0.2], 1: [1.0, 30.0, np.nan]}, hue="sgd")
    lost = plotting.where_lost(frame[frame["seed"] == 1], "step", "value")
    assert list(lost["step"]) == [2]
    fig, ax = plt.subplots()
    plotting.seed_band(ax, frame, "step", "value", hue="optimizer")
    marks = [c for c in ax.collections if c.get_offsets().size and c.get_transform() is not ax.transData]
    assert [list(c.get_offsets()[:, 0]) for c in marks] == [[2.0]]
    plt.close(fig)


def test_ratio_forest_draws_each_outcome_at_its_ratio_top_down_in_its_verdict_colour():
    from matplotlib.colors import to_hex

    from toylab import checks
    from toylab.site import VERDICT_COLORS

    check = checks.Check("C13", "C13-x", "ratio", "per seed", "a beats b", 0.1, kind="hypothesis")
    outcomes = [checks.ordering(check, [1.0, 1.1, 0.9], [4.0, 4.2, 3.9], "wins"),
                checks.ordering(check, [4.0, 4.1, 3.9], [1.0, 1.1, 0.9], "loses")]
    fig, ax = plt.subplots()
    plotting.ratio_forest(ax, outcomes, ["wins", "loses"], 0.1)
    points = [(line.get_xdata()[0], line.get_ydata()[0], to_hex(line.get_color())) for line in ax.lines
              if line.get_marker() == "o"]
    assert points == [(pytest.approx(outcomes[0].measured), 1, VERDICT_COLORS["holds"]),
                      (pytest.approx(outcomes[1].measured), 0, VERDICT_COLORS["fails"])]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["wins", "loses"] and ax.get_xscale() == "log"
    plt.close(fig)


def test_seed_points_join_the_geometric_means_and_log10_strip_marks_a_diverged_seed():
    fig, (ax, strip) = plt.subplots(1, 2)
    plotting.seed_points(ax, {1.0: pd.Series([1e-2, 1e-4]), 10.0: pd.Series([1e-3, 1e-5])})
    mean = [line for line in ax.lines if line.get_linestyle() == "-"][0]
    assert list(mean.get_ydata()) == pytest.approx([1e-3, 1e-4]) and ax.get_xscale() == ax.get_yscale() == "log"
    plotting.log10_strip(strip, {"matched": pd.Series([1e-20, 1e-12]), "one back": pd.Series([1e-2, np.inf])})
    assert [list(line.get_xdata()) for line in strip.lines] == [pytest.approx([-18, -12]), pytest.approx([-2])]
    assert [c.get_offsets()[0, 1] for c in strip.collections] == [1]  # one × on the row of the diverged seed
    assert [t.get_text() for t in strip.get_yticklabels()] == ["matched", "one back"]
    plt.close(fig)


def test_best_sweep_stars_each_hue_at_its_best_point_on_log_axes():
    frame = pd.DataFrame([{"run": f"{h}{lr}{s}", "opt": h, "lr": lr, "seed": s, "value": v * (1 + 0.1 * s)}
                          for h, vs in (("adamw", (3.0, 1.0, 2.0)), ("sgd", (1.0, 2.0, 4.0)))
                          for lr, v in zip((0.1, 1.0, 10.0), vs) for s in range(2)])
    best = pd.DataFrame({"best": [1.0, 0.1], "value": [1.05, 1.05]}, index=["adamw", "sgd"])
    fig, ax = plt.subplots()
    plotting.best_sweep(ax, frame, best, "opt")
    starred = sorted(tuple(c.get_offsets()[0]) for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()))
    assert starred == [(0.1, 1.05), (1.0, 1.05)] and ax.get_xscale() == ax.get_yscale() == "log"
    assert "best lr" in ax.get_legend_handles_labels()[1]
    plt.close(fig)


def test_strip_with_theory_draws_every_row_and_one_theory_segment_per_hue_and_category():
    frame = pd.DataFrame({"variant": ["a", "b", "a", "b"], "setting": ["s1", "s1", "s2", "s2"], "value": [1.0, 2.0, 3.0, 4.0]})
    fig, ax = plt.subplots()
    plotting.strip_with_theory(ax, frame, "variant", "value", "setting", ["a", "b"],
                               lambda row, v: {"a": 10.0, "b": 20.0}[v] * (2 if row["setting"] == "s2" else 1), "theory")
    points = sorted(float(y) for c in ax.collections if isinstance(c, PathCollection) for y in c.get_offsets()[:, 1])
    segments = sorted(float(seg[0][1]) for c in ax.collections if not isinstance(c, PathCollection) for seg in c.get_segments())
    assert points == [1.0, 2.0, 3.0, 4.0] and segments == [10.0, 20.0, 20.0, 40.0]
    assert ax.get_legend_handles_labels()[1].count("theory") == 1
    plt.close(fig)


def test_error_forest_draws_each_relative_error_top_down_in_its_verdict_colour():
    from matplotlib.colors import to_hex

    from toylab import checks
    from toylab.site import VERDICT_COLORS

    check = checks.Check("C2", "C2-x", "rms", "per seed", "eq.", 0.05, kind="seed")
    outcomes = [checks.equivalence(check, [1.01, 1.0, 0.99], 1.0, "near"),
                checks.equivalence(check, [2.0, 2.1, 1.9], 1.0, "far")]
    fig, ax = plt.subplots()
    plotting.error_forest(ax, outcomes, 0.05)
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert points.get_offsets()[:, 0].tolist() == pytest.approx([100 * (o.measured - 1) for o in outcomes])
    assert [to_hex(c) for c in points.get_facecolors()] == [VERDICT_COLORS["holds"], VERDICT_COLORS["fails"]]
    assert ax.yaxis_inverted() and [t.get_text() for t in ax.get_yticklabels()] == ["C2-x/near", "C2-x/far"]
    plt.close(fig)


def test_panel_bands_draw_the_reference_interval_of_each_panel_on_the_chosen_x_scale():
    frame = pd.DataFrame([{"run": f"{p}{s}{x}", "panel": p, "name": "ns", "seed": s, "x": x, "value": 1.0 + s}
                          for p in ("a", "b") for s in range(3) for x in (1, 10)])
    reference = pd.DataFrame({"panel": ["a", "a", "b", "b"], "value": [2.0, 8.0, 1.0, 1.0]})
    fig, axes = plt.subplots(1, 2, squeeze=False)
    plotting.panel_bands(axes, frame, "panel", "x", "value", hue="name", reference=(reference, "exact", "C3"), xscale="log")
    means = [[line.get_ydata()[0] for line in ax.lines if line.get_label() == "exact"] for ax in axes.flat]
    assert means == [[pytest.approx(4.0)], [pytest.approx(1.0)]]  # geometric mean of the panel's reference rows
    assert [ax.get_xscale() for ax in axes.flat] == ["log", "log"]
    plt.close(fig)


def test_mean_line_draws_the_seed_mean_of_a_prediction_dashed():
    frame = pd.DataFrame({"seed": [0, 0, 1, 1], "step": [1, 2, 1, 2], "pred": [1.0, 2.0, 3.0, 6.0]})
    fig, ax = plt.subplots()
    plotting.mean_line(ax, frame, "step", "pred", "prediction")
    line, = ax.get_lines()
    assert line.get_xdata().tolist() == [1, 2] and line.get_ydata().tolist() == [2.0, 4.0]
    assert line.get_linestyle() == "--" and line.get_label() == "prediction"
    plt.close(fig)


def test_ratio_band_is_the_geometric_band_of_measured_over_predicted_without_the_zero_predictions():
    rows = [{"run": f"r{s}", "seed": s, "step": t, "value": v * (1 + 0.1 * s), "pred": v}
            for s in range(3) for t, v in enumerate([2.0, 1.0, 0.0])]  # the last prediction is 0: ratio 0/0
    frame = pd.DataFrame(rows)
    frame.loc[frame["step"] == 2, "value"] = 0.5  # measured 0.5 over predicted 0: infinite
    fig, ax = plt.subplots()
    stats = plotting.ratio_band(ax, frame, "step", "pred")
    assert stats["step"].tolist() == [0, 1] and ax.get_yscale() == "log"  # every run kept, its step 2 left out
    assert stats["centre"].to_numpy() == pytest.approx(np.exp(np.log([1.0, 1.1, 1.2]).mean()), rel=1e-12)
    plt.close(fig)


def test_tolerance_band_spans_one_plus_minus_the_tolerance_and_shades_the_windows():
    fig, ax = plt.subplots()
    plotting.tolerance_band(ax, 0.03, [(10, 20), (30, 40)])
    band, *windows = ax.patches
    assert band.get_label() == "±3 % tolerance"
    assert ax.transData.inverted().transform(band.get_window_extent())[:, 1] == pytest.approx([0.97, 1.03])
    assert [tuple(ax.transData.inverted().transform(w.get_window_extent())[:, 0]) for w in windows] == \
        [pytest.approx((10, 20)), pytest.approx((30, 40))]
    plt.close(fig)


def test_labelled_scatter_annotates_each_point_and_names_each_hue_once():
    frame = pd.DataFrame({"t": [1.0, 10.0, 100.0], "e": [0.1, 0.01, 1.0], "kind": ["a", "a", "b"],
                          "name": ["a-1", "a-2", "B"]})
    fig, ax = plt.subplots()
    plotting.labelled_scatter(ax, frame, "t", "e", "kind", "name", {"a": "C0", "b": "C1"}, {"a": "A"}, log=True)
    assert [t.get_text() for t in ax.texts] == ["a-1", "a-2", "B"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "b"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    plt.close(fig)


def test_label_panels_sets_each_axis_and_its_legend():
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.plot([1, 2], [1, 10], label="curve")
    plotting.label_panels(axes, [dict(yscale="log", title="left"), dict(xlabel="step t")], fontsize=6)
    assert axes[0].get_yscale() == "log" and axes[0].get_title() == "left" and axes[1].get_xlabel() == "step t"
    assert [t.get_text() for ax in axes for t in ax.get_legend().get_texts()] == ["curve", "curve"]
    plt.close(fig)


def test_target_bands_draw_each_panel_with_its_target_at_the_first_row():
    frames = [curves({0: [1.0, 2.0], 1: [1.5, 2.5]}).assign(lam=lam) for lam in (0.1, 0.3)]
    fig, axes = plt.subplots(1, 3)
    plotting.target_bands(axes, [(f, "value", lambda r: 10 * r["lam"], "target", f"λ = {f['lam'].iloc[0]:g}")
                                 for f in frames], "step", hue="optimizer", xlabel="step t")
    for ax, lam in zip(axes, (0.1, 0.3)):
        target = [line for line in ax.get_lines() if line.get_label() == "target"]
        assert target[0].get_ydata()[0] == pytest.approx(10 * lam) and target[0].get_linestyle() == "--"
        assert ax.get_title() == f"λ = {lam:g}" and ax.get_xlabel() == "step t" and ax.get_legend() is not None
    assert not axes[2].lines  # no panel left for it


def test_extreme_bands_draw_each_quantitys_largest_and_smallest_value_per_panel_with_the_target():
    ext = pd.DataFrame([{"setting": p, "seed": s, "step": t, "quantity": q, "max": 4.0 * (q == "grad") + 1.0,
                         "min": 0.5} for p in ("a", "b") for s in range(2) for t in (1, 2) for q in ("grad", "direction")])
    fig, axes = plt.subplots(1, 3, squeeze=False)
    keys = plotting.extreme_bands(axes, ext, "setting", {"grad": "G", "direction": "O"}, target_label="one")
    assert keys == [("a",), ("b",)] and not axes[0, 2].get_visible()
    for ax in axes.flat[:2]:
        lines = {line.get_label(): line.get_ydata() for line in ax.lines}
        assert lines["G σ_max"] == pytest.approx([5.0, 5.0]) and lines["O σ_max"] == pytest.approx([1.0, 1.0])
        assert lines["O σ_min"] == pytest.approx([0.5, 0.5]) and list(lines["one"]) == [1.0, 1.0]
        assert "one" in [t.get_text() for t in ax.get_legend().get_texts()] and ax.get_yscale() == "log"
    plt.close(fig)


def test_one_legend_keeps_the_first_panels_legend_only():
    fig, axes = plt.subplots(2, 2, squeeze=False)
    for ax in axes.flat[:3]:
        ax.plot([0, 1], [0, 1], label="line")
        ax.legend()
    plotting.one_legend(axes)
    assert [ax.get_legend() is not None for ax in axes.flat] == [True, False, False, False]
    plt.close(fig)


def test_scalar_map_panels_draw_each_hues_points_and_its_map_on_a_log_axis():
    frame = pd.DataFrame({"setting": ["a"] * 4, "method": ["x", "x", "y", "y"], "input": [0.1, 0.5, 0.1, 0.5],
                          "output": [0.2, 0.9, 1.0, 1.0]})
    fig, axes = plt.subplots(1, 2, squeeze=False)
    keys = plotting.scalar_map_panels(axes, frame, "setting", "method", {"x": "C0", "y": "C1"},
                                      lambda m, s: s ** (0.5 if m == "x" else 0.0), "in", "out", ylim=(0, 1.4))
    assert keys == ["a"] and not axes[0, 1].get_visible()
    ax = axes[0, 0]
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0, 1.4) and ax.get_legend() is not None
    x = ax.lines[0].get_xdata()
    assert ax.lines[0].get_ydata() == pytest.approx(np.sqrt(x))
    assert ax.lines[1].get_ydata() == pytest.approx(np.ones_like(x))
    assert [len(c.get_offsets()) for c in ax.collections] == [2, 2]
    plt.close(fig)
