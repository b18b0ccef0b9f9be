"""A config's numbers do not depend on which configs share its batch (K = 1, 16, 64)."""
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
