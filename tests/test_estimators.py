"""The shared per-replicate estimators (toylab/estimators.py) on synthetic tables with known answers."""
import numpy as np
import pandas as pd
import pytest

from toylab import estimators


def test_window_mean_per_seed():
    frame = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "step": [1, 2, 3] * 2, "value": [1, 2, 3, 4, 5, 6.0]})
    assert estimators.window(frame, 2, 3).tolist() == [2.5, 5.5]


def test_windowed_ratio_is_root_of_mean_squares_over_the_window():
    steps = np.arange(1, 101)
    frame = pd.DataFrame({"step": np.tile(steps, 2), "seed": np.repeat([0, 1], 100), "steps_total": 100,
                          "rms_grad": np.tile(np.where(steps > 50, 2.0, 9.0), 2),
                          "rms_weights": np.tile(np.where(steps % 2 == 0, 1.0, 3.0), 2)})
    got = estimators.windowed_ratio(frame, 0.5, 1.0)
    assert list(got.index) == [0, 1]
    assert got.to_numpy() == pytest.approx([2.0 / np.sqrt(5.0)] * 2, rel=1e-12)  # √(4 / mean(1, 9))


def test_block_means_are_the_mean_square_of_each_block():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((3, 12))  # 3 steps × 12 coordinates
    frame = pd.DataFrame({"optimizer": "adamw", "step": np.repeat([1, 10, 20], 12),
                          "index": np.tile(np.arange(12), 3), "value": theta.ravel()})
    out = estimators.block_means(frame, blocks=4).sort_values(["step", "block"])
    expected = (theta**2).reshape(3, 4, 3).mean(-1).ravel()  # blocks of 3 consecutive coordinates
    np.testing.assert_allclose(out["value"].to_numpy(), expected, rtol=1e-12)
    assert out["block"].tolist() == [0, 1, 2, 3] * 3


def test_parabola_vertex_recovers_the_minimum_and_stays_in_range():
    x = np.log([1.0, 2.0, 4.0, 8.0, 16.0])
    assert estimators.vertex(x, (x - np.log(3.0)) ** 2) == pytest.approx(np.log(3.0), rel=1e-10)
    assert estimators.vertex(x, -x) == pytest.approx(x.max())  # no interior minimum: clipped to the range


def test_log_vertex_fits_the_grid_points_near_the_given_one_in_log_space():
    grid = 2.0 ** np.arange(10)
    frame = pd.DataFrame({"tau": grid, "value": np.exp((np.log(grid) - np.log(6.0)) ** 2)})
    assert estimators.log_vertex(frame, "tau", 4.0) == pytest.approx(6.0, rel=1e-10)
    far = frame.assign(value=np.where(frame["tau"] > 64, 1e-9, frame["value"]))  # a far minimum is outside the window
    assert estimators.log_vertex(far, "tau", 4.0) == pytest.approx(6.0, rel=1e-10)


def test_at_step_interpolates_geometrically_per_seed():
    f = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "step": [20, 0, 10, 0, 10, 20],
                      "value": [1.0, 4.0, 2.0, 9.0, 3.0, 1.0]})  # out of order on purpose
    got = estimators.at_step(f, 5)
    assert got.loc[0] == pytest.approx(np.sqrt(4.0 * 2.0)) and got.loc[1] == pytest.approx(np.sqrt(27.0))
    assert estimators.at_step(f, 20).tolist() == pytest.approx([1.0, 1.0])


def test_stable_rank_share_is_the_frobenius_over_spectral_norm_squared_per_dimension():
    """Against numpy's norms of random matrices, and the two ends: rank one (1/n) and orthogonal (1)."""
    rng = np.random.default_rng(0)
    mats = {"random": rng.normal(size=(7, 4)), "rank one": np.outer(rng.normal(size=7), rng.normal(size=4)),
            "orthogonal": np.linalg.qr(rng.normal(size=(7, 4)))[0]}
    rows = [{"run": name, "step": 1, "quantity": "grad", "index": i, "value": s}
            for name, a in mats.items() for i, s in enumerate(np.linalg.svd(a, compute_uv=False))]
    got = estimators.stable_rank_share(pd.DataFrame(rows)).droplevel(["step", "quantity"])
    a = mats["random"]
    assert got["random"] == pytest.approx(np.linalg.norm(a, "fro") ** 2 / np.linalg.norm(a, 2) ** 2 / 4, rel=1e-12)
    assert got["rank one"] == pytest.approx(0.25, rel=1e-9) and got["orthogonal"] == pytest.approx(1.0, rel=1e-12)


def test_trajectory_gap_is_the_largest_relative_distance_over_steps_and_inf_when_diverged():
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    weights = pd.DataFrame([{"run": f"{name}{s}", "step": t, "index": i, "value": x[s, t, i]}
                            for name, x in (("a", xa), ("b", xb)) for s in range(2) for t in range(5) for i in range(3)])
    a = pd.DataFrame({"run": ["a0", "a1"], "diverged": [False, True]}, index=[0, 1])
    b = pd.DataFrame({"run": ["b0", "b1"], "diverged": [False, False]}, index=[0, 1])
    gap = estimators.trajectory_gap(weights, a, b)
    expected = max(np.linalg.norm(xa[0, t] - xb[0, t]) / np.linalg.norm(xb[0, t]) for t in range(5))
    assert gap[0] == pytest.approx(expected, rel=1e-12) and gap[1] == np.inf


def test_numerical_rank_keeps_the_singular_values_within_the_references_rank_and_drops_vectors():
    rows = [("W", "grad", [4.0, 2.0, 1e-9]), ("W", "direction", [1.0, 0.9, 0.7]), ("b", "grad", [3.0]),
            ("b", "direction", [1.0])]
    spectra = pd.DataFrame([{"run": "r", "step": 1, "param": p, "quantity": q, "index": i, "value": v}
                            for p, q, vs in rows for i, v in enumerate(vs)])
    kept = estimators.numerical_rank(spectra, 1e-6)
    rank = np.linalg.matrix_rank(np.diag([4.0, 2.0, 1e-9]), tol=1e-6 * 4.0)  # numpy's rank with the same tolerance
    assert set(kept["param"]) == {"W"} and kept.groupby("quantity").size().tolist() == [rank, rank]
    assert sorted(kept[kept["quantity"] == "direction"]["value"]) == [0.9, 1.0]


def test_rms_ratio_sums_squares_over_the_closed_window_per_seed():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"seed": np.repeat([0, 1], 10), "step": np.tile(np.arange(0, 100, 10), 2),
                          "a": rng.normal(size=20), "b": rng.normal(size=20)})
    got = estimators.rms_ratio(frame, 20, 50, "a", "b")
    for seed in (0, 1):
        inside = frame[(frame["seed"] == seed) & frame["step"].between(20, 50)]  # steps 20, 30, 40, 50
        assert len(inside) == 4
        assert got[seed] == pytest.approx(np.linalg.norm(inside["a"]) / np.linalg.norm(inside["b"]), rel=1e-12)


def test_descent_rate_is_the_fall_of_y_per_unit_of_x_between_two_steps():
    frame = pd.DataFrame({"seed": np.repeat([0, 1], 3), "step": [0, 5, 10] * 2,
                          "path": [0.0, 1.0, 3.0, 0.0, 2.0, 2.5], "dist": [2.0, 1.5, 1.0, 4.0, 3.0, 2.0]})
    got = estimators.descent_rate(frame, "path", "dist", 0, 10)
    assert got.to_dict() == {0: pytest.approx(1.0 / 3.0), 1: pytest.approx(2.0 / 2.5)}
    assert estimators.descent_rate(frame, "path", "dist", 5, 10).to_dict() == {0: 0.25, 1: 2.0}


def test_probe_columns_put_each_quantity_in_a_column_beside_the_run_config():
    rows = [{"run": run, "param": param, "step": step, "quantity": q, "value": v, "lr": lr}
            for run, lr in (("a", 0.1), ("b", 0.2)) for param in ("W1", "W2") for step in (0, 10)
            for q, v in (("rms_grad", lr * step + 1), ("rms_weights", lr + len(param)))]
    wide = estimators.probe_columns(pd.DataFrame(rows))
    assert len(wide) == 8 and {"rms_grad", "rms_weights", "lr"} <= set(wide.columns)
    for r in rows:
        match = wide[(wide["run"] == r["run"]) & (wide["param"] == r["param"]) & (wide["step"] == r["step"])]
        assert match[r["quantity"]].item() == r["value"] and match["lr"].item() == r["lr"]


def test_windowed_ratio_text_names_the_window_in_fractions_of_T():
    assert estimators.windowed_ratio_text("‖g‖", "‖x‖", 0.5, 1.0) == "√(mean ‖g‖²/mean ‖x‖²) over steps T/2…T per seed"
    assert estimators.windowed_ratio_text("RMS(x)", "", 0.8, 1.0) == "√(mean (RMS(x))²) over steps 0.8T…T per seed"
    assert estimators.windowed_ratio_text("a", "b", 0.25, 0.5).endswith("over steps T/4…T/2 per seed")


def test_singular_extremes_spread_and_growth_match_numpys_singular_values():
    rng = np.random.default_rng(1)
    mats = {(s, t, q): rng.normal(size=(6, 3)) * (t + 1 if q == "grad" else 1) for s in range(2) for t in (0, 5, 10)
            for q in ("grad", "direction")}
    spectra = pd.DataFrame([{"setting": "x", "seed": s, "step": t, "quantity": q, "index": i, "value": v}
                            for (s, t, q), a in mats.items() for i, v in enumerate(np.linalg.svd(a, compute_uv=False))])
    ext = estimators.singular_extremes(spectra, ["setting", "seed"])
    norm2 = {k: np.linalg.norm(a, 2) for k, a in mats.items()}
    cond = {k: np.linalg.cond(a) for k, a in mats.items()}
    assert ext.set_index(["seed", "step", "quantity"])["max"].to_dict() == pytest.approx(norm2, rel=1e-12)
    got = estimators.spread_and_growth(ext, ["setting"])
    for s in range(2):
        for q in ("grad", "direction"):
            assert got.loc[("x", s), ("spread", q)] == pytest.approx(np.median([cond[s, t, q] for t in (0, 5, 10)]))
            assert got.loc[("x", s), ("growth", q)] == pytest.approx(norm2[s, 10, q] / norm2[s, 0, q])


def test_paired_spectra_put_equal_ranks_side_by_side_and_normalise_by_the_frobenius_norm():
    rng = np.random.default_rng(2)
    m = rng.normal(size=(5, 3))
    rows = [{"setting": "x", "seed": 0, "run": "r", "step": 1, "quantity": q, "index": i, "value": v}
            for q, a in (("momentum", m), ("direction", np.linalg.qr(m)[0])) for i, v in
            enumerate(np.linalg.svd(a, compute_uv=False))]
    got = estimators.paired_spectra(pd.DataFrame(rows), "momentum", "direction", ["setting", "seed"], normalise=True)
    assert got["input"].to_numpy() == pytest.approx(np.linalg.svd(m, compute_uv=False) / np.linalg.norm(m, "fro"))
    assert got["output"].to_numpy() == pytest.approx([1.0, 1.0, 1.0]) and got["index"].tolist() == [0, 1, 2]


def test_run_median_is_each_runs_median_over_steps_of_one_quantity():
    probe = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 2 + ["a"], "quantity": ["err"] * 5 + ["other"],
                          "value": [3.0, 1.0, 2.0, 5.0, 7.0, 100.0]})
    assert estimators.run_median(probe, "err").to_dict() == {"a": 2.0, "b": 6.0}


def test_geometric_mean_is_the_exponential_of_the_mean_log():
    assert estimators.geometric_mean([1.0, 4.0, 16.0]) == pytest.approx(4.0, rel=1e-12)
    assert estimators.geometric_mean(pd.Series([2.0, 0.0])) == 0.0
    assert estimators.geometric_mean([1.0, np.inf]) == np.inf


def test_named_gap_compares_the_runs_of_two_names_seed_by_seed():
    # θ_a = (1 + 0.1·(seed + 1))·θ_b at every step: the relative gap is 0.1·(seed + 1)
    weights = pd.DataFrame([{"run": f"{n}{s}", "step": t, "index": i,
                             "value": (1 + (n == "a") * 0.1 * (s + 1)) * (t + i + 1)}
                            for n in "ab" for s in range(2) for t in range(3) for i in range(2)])
    runs = pd.DataFrame({"run": ["a0", "a1", "b0", "b1"], "seed": [0, 1, 0, 1], "variant": ["A", "A", "B", "B"],
                         "diverged": False}).set_index("run")
    assert estimators.named_gap(weights, runs, "A", "B").tolist() == pytest.approx([0.1, 0.2])


def test_loglog_slope_recovers_each_seeds_power_law():
    values = {x: pd.Series([3.0 * x ** -1.0, 0.5 * x ** -2.0], index=[0, 1]) for x in (10.0, 100.0, 1000.0)}
    assert estimators.loglog_slope(values).tolist() == pytest.approx([-1.0, -2.0])
