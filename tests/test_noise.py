"""The gradient-noise problem of C1-C3: its gradient is the sampled g, fast path and metrics."""
import pytest
import torch
from torch.func import grad, vmap

from toylab import problems


def build(**opts):
    return problems.build("noise", opts, dtype=torch.float64)


def test_gradient_is_the_sample_and_moments_match():
    problem = build(n=20000, mu=0.5, sigma=2.0)
    params = problem.init_params(torch.Generator().manual_seed(0))
    batch = problem.sample(problem.make_data(torch.Generator().manual_seed(0)), torch.Generator().manual_seed(1), 1)
    torch.testing.assert_close(grad(problem.loss)(params, batch)["theta"], batch["g"])
    assert batch["g"].mean().item() == pytest.approx(0.5, abs=0.05)
    assert batch["g"].std().item() == pytest.approx(2.0, rel=0.02)
    assert params["theta"].std().item() == pytest.approx(0.1, rel=0.02)
    assert problem.snr == pytest.approx(0.0625)


def test_fast_path_equals_autograd_batched_over_k():
    problem = build(n=50)
    gen = torch.Generator().manual_seed(0)
    data = problem.make_data(gen)
    params = {"theta": torch.stack([problem.init_params(gen)["theta"] for _ in range(3)])}
    batch = {"g": torch.stack([problem.sample(data, gen, 1)["g"] for _ in range(3)])}
    loss, grads = problem.loss_and_grad(params, batch)
    ref_loss = vmap(problem.loss)(params, batch)
    ref_grads = vmap(grad(problem.loss))(params, batch)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(grads["theta"], ref_grads["theta"])


def test_metrics():
    problem = build(n=4)
    params = {"theta": torch.tensor([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0]], dtype=torch.float64)}
    out = problem.metrics(params, {})
    torch.testing.assert_close(out["weight_norm"], torch.tensor([2.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(out["weight_rms"], torch.tensor([1.0, 1.0], dtype=torch.float64))
