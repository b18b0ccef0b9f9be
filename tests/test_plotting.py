"""Honest-figure primitives: colours, log-space seed bands, diverged runs kept out of bands."""
import matplotlib.pyplot as plt
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
