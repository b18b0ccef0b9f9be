"""Every registered problem honours the Problem API (toylab/problems.py)."""
import pytest
import torch
from torch.func import grad_and_value, vmap

from toylab import problems
from toylab.engine import seed_generator

NAMES = sorted(problems.discover())
K = 3


def build(name):
    return problems.build(name, {}, dtype=torch.float64)


def gen(seed, stream):
    return seed_generator(seed, stream, torch.device("cpu"))


def batched_params(problem):
    inits = [problem.init_params(gen(s, "init")) for s in range(K)]
    # perturb so that zero-initialised problems are not tested only at W = 0
    return {k: torch.stack([p[k] for p in inits]) + 0.1 * torch.randn(K, *inits[0][k].shape,
            generator=torch.Generator().manual_seed(1), dtype=torch.float64) for k in inits[0]}


def batch_for(problem, k=K):
    data = problem.make_data(gen(0, "data"))
    batch = problem.sample(data, gen(0, "stream"), 1)
    return data, {name: v.expand(k, *v.shape) for name, v in batch.items()}


@pytest.mark.parametrize("name", NAMES)
def test_init_params_match_param_shapes(name):
    problem = build(name)
    params = problem.init_params(gen(0, "init"))
    assert {k: tuple(v.shape) for k, v in params.items()} == problem.param_shapes()
    assert all(v.dtype == torch.float64 for v in params.values())


@pytest.mark.parametrize("name", NAMES)
def test_data_and_batches_are_deterministic_per_seed(name):
    problem = build(name)
    first = [problem.make_data(gen(s, "data")) for s in (0, 0, 1)]
    samples = [problem.sample(d, gen(s, "stream"), 1) for d, s in zip(first, (0, 0, 1))]
    for a, b in zip(list(first[0].values()) + list(samples[0].values()),
                    list(first[1].values()) + list(samples[1].values())):
        assert torch.equal(a, b)
    differs = [not torch.equal(a, b) for a, b in zip(samples[0].values(), samples[2].values())]
    assert any(differs), "another seed draws another batch"


@pytest.mark.parametrize("name", NAMES)
def test_fast_gradient_path_equals_autograd(name):
    problem = build(name)
    if problem.loss_and_grad is None:
        pytest.skip("no fast path")
    params = batched_params(problem)
    _, batch = batch_for(problem)
    loss, grads = problem.loss_and_grad(params, batch)
    auto_grads, auto_loss = vmap(grad_and_value(problem.loss))(params, batch)
    torch.testing.assert_close(loss, auto_loss)
    for k in params:
        torch.testing.assert_close(grads[k], auto_grads[k])


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_a_finite_scalar_and_metrics_are_K_vectors(name):
    problem = build(name)
    params = batched_params(problem)
    data, batch = batch_for(problem)
    losses = vmap(problem.loss)(params, batch)
    assert losses.shape == (K,) and torch.isfinite(losses).all()
    metrics = problem.metrics(params, data)
    assert metrics, "a problem reports at least one metric"
    for metric, value in metrics.items():
        assert value.shape == (K,), metric
