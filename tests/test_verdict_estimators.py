"""Estimators of the C2/C3 and C11 analyses on small synthetic tables with known answers."""
import numpy as np
import pandas as pd
import pytest

from toylab.analyses.bias_correction_zero_init import final_window
from toylab.analyses.seed_000_check import block_means


def test_block_means_are_the_mean_square_of_each_block():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((3, 12))  # 3 steps × 12 coordinates
    frame = pd.DataFrame({"optimizer": "adamw", "step": np.repeat([1, 10, 20], 12),
                          "index": np.tile(np.arange(12), 3), "value": theta.ravel()})
    out = block_means(frame, blocks=4).sort_values(["step", "block"])
    expected = (theta**2).reshape(3, 4, 3).mean(-1).ravel()  # blocks of 3 consecutive coordinates
    np.testing.assert_allclose(out["value"].to_numpy(), expected, rtol=1e-12)
    assert out["block"].tolist() == [0, 1, 2, 3] * 3


def test_final_window_averages_the_last_tenth_and_marks_divergence():
    steps = np.arange(0, 101, 10)
    rows = [{"run": r, "metric": "loss", "step": s, "value": v, "lr": 0.1, "diverged": r == "b"}
            for r, values in (("a", steps / 10.0), ("b", np.ones(len(steps)))) for s, v in zip(steps, values)]
    out = final_window(pd.DataFrame(rows)).set_index("run")["value"]
    assert out["a"] == pytest.approx((9 + 10) / 2)  # steps 90 and 100
    assert out["b"] == np.inf
