"""A config's numbers do not depend on which configs share its batch (K = 1, 16, 64)."""
import dataclasses

import numpy as np
import pytest
import torch

from toylab import engine
from toylab.config import RunConfig
from toylab.experiments import grid

PROBLEM = {"d": 12, "D": 4, "condition_number": 10.0, "batch_size": 8}


def sweep(optimizer, dtype, K, hparams):
    """K configs: lrs × 4 seeds; config 0 (seed 0, the first lr) is the one compared."""
    base = RunConfig("linear_regression", optimizer, dict(PROBLEM), dict(hparams), steps=60, metric_every=20,
                     dtype=dtype)
    seeds = [0, 1, 2, 3][:K]
    lrs = [hparams.get("lr", 1e-2)] + np.geomspace(1e-4, 1e-1, max(K // len(seeds) - 1, 0)).tolist()
    return [c.resolve() for c in grid(base, {"hparams.lr": lrs, "seed": seeds})][:K]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer, hparams", [("adamw", {"lr": 1e-2}), ("sgd", {"lr": 1e-3, "momentum": 0.9}),
                                                ("signsgd", {"lr": 1e-3}), ("muon", {"lr": 0.05})])
def test_config_alone_equals_config_in_a_sweep(optimizer, hparams, dtype):
    results = {K: engine.run_batch(sweep(optimizer, dtype, K, hparams)) for K in (1, 16, 64)}
    alone = results[1]
    for K in (16, 64):
        assert sweep(optimizer, dtype, K, hparams)[0] == sweep(optimizer, dtype, 1, hparams)[0]
        m = results[K].metrics
        torch.testing.assert_close(torch.tensor(m[m.config == 0].value.to_numpy()),
                                   torch.tensor(alone.metrics.value.to_numpy()), rtol=0, atol=0, equal_nan=True)
        assert torch.equal(results[K].params["W"][0], alone.params["W"][0]), K


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generic_autograd_route_is_batch_independent(dtype):
    """scale_invariant has no fast path: vmap(grad(loss)) over K."""
    base = RunConfig("scale_invariant", "adamw", {"d_in": 8, "d_out": 4, "batch_size": 8, "eval_size": 64},
                     {"lr": 1e-2}, steps=40, metric_every=20, dtype=dtype)
    final = {}
    for K in (1, 16, 64):
        seeds = [0, 1, 2, 3][:K]
        lrs = [1e-2] + np.geomspace(1e-4, 1e-1, max(K // len(seeds) - 1, 0)).tolist()
        final[K] = engine.run_batch([c.resolve() for c in grid(base, {"hparams.lr": lrs, "seed": seeds})][:K])
    for K in (16, 64):
        assert torch.equal(final[K].params["W"][0], final[1].params["W"][0]), K


@pytest.mark.parametrize("optimizer, hparams", [("adamw", {"lr": 1e-2}), ("sgd", {"lr": 1e-3, "momentum": 0.9})])
def test_eager_step_is_batch_independent_too(optimizer, hparams):
    """--eager (the tests above run the default, fused step): torch's ops, each with its own
    vectorised body and tail over 52 elements per config; a config's float32 numbers are still
    the same at K = 1, 16, 64."""
    final = {K: engine.run_batch([dataclasses.replace(c, compile=False) for c in sweep(optimizer, "float32", K, hparams)])
             for K in (1, 16, 64)}
    assert not final[1].fused and engine.run_batch(sweep(optimizer, "float32", 1, hparams)).fused
    for K in (16, 64):
        assert torch.equal(final[K].params["W"][0], final[1].params["W"][0]), K
