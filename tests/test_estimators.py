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
