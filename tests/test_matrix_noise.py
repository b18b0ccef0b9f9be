"""The matrix gradient-noise problem of C16: its gradient is the sampled G, i.i.d. N(0, σ²) per
entry, fresh each step; the metric is RMS(W) (float64, against numpy)."""
import numpy as np
import pytest
import torch
from torch.func import grad

from toylab import problems


def test_gradient_is_the_sample_iid_gaussian_and_fresh_each_step():
    problem = problems.build("matrix_noise", {"m": 120, "n": 80, "sigma": 2.0, "init_std": 0.5}, dtype=torch.float64)
    params = problem.init_params(torch.Generator().manual_seed(0))
    assert params["W"].shape == (120, 80) and params["W"].std().item() == pytest.approx(0.5, rel=0.03)
    gen = torch.Generator().manual_seed(1)
    first, second = (problem.sample({}, gen, t)["G"] for t in (1, 2))
    torch.testing.assert_close(grad(problem.loss)(params, {"G": first})["W"], first)
    g = first.numpy()
    assert abs(g.mean()) < 4 * 2.0 / np.sqrt(g.size) and g.std() == pytest.approx(2.0, rel=0.02)
    assert abs(np.corrcoef(g.ravel(), second.numpy().ravel())[0, 1]) < 4 / np.sqrt(g.size)  # fresh draws
    assert abs(np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1]) < 4 / np.sqrt(g.size)  # independent entries


def test_weight_rms_metric_against_numpy():
    problem = problems.build("matrix_noise", {"m": 3, "n": 2}, dtype=torch.float64)
    W = np.random.default_rng(0).normal(size=(4, 3, 2))
    rms = problem.metrics({"W": torch.from_numpy(W)}, {})["weight_rms"].numpy()
    np.testing.assert_allclose(rms, np.sqrt((W**2).mean(axis=(1, 2))), rtol=1e-14)
