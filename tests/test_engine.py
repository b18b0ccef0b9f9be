"""The batched engine: K configs at once equal K runs alone; divergence is contained."""
import pandas as pd
import pytest
import torch

from toylab import engine
from toylab.config import RunConfig
from toylab.experiments import grid

PROBLEM = {"d": 6, "D": 3, "condition_number": 20.0, "batch_size": 8}


def base(optimizer="adamw", **kw):
    kw.setdefault("steps", 30)
    kw.setdefault("metric_every", 5)
    return RunConfig("linear_regression", optimizer, dict(PROBLEM), dtype="float64", **kw)


def run(configs):
    return engine.run_batch([c.resolve() for c in configs])


def metrics_of(result, i):
    return result.metrics[result.metrics.config == i].drop(columns="config").reset_index(drop=True)


@pytest.mark.parametrize("optimizer, axes", [
    ("adamw", {"hparams.lr": [1e-3, 3e-2], "hparams.bias_correction": [True, False], "seed": [0, 1]}),
    ("sgd", {"hparams.lr": [1e-4, 1e-3], "hparams.momentum": [0.0, 0.9], "seed": [2]}),
    ("signsgd", {"hparams.lr": [1e-3, 1e-2], "hparams.momentum": [0.0, 0.9], "seed": [0, 3]}),
    # NS in float64: the per-seed gradient product's rounding depends on how many configs share a
    # seed (BLAS blocking), and float32 NS would amplify that last-bit difference to ~1e-7.
    ("muon", {"hparams.lr": [1e-3, 1e-2], "hparams.nesterov": [True, False], "hparams.ns_dtype": ["float64"],
              "seed": [1]}),
])
def test_batched_sweep_equals_separate_runs(optimizer, axes):
    configs = grid(base(optimizer), axes)
    together = run(configs)
    for i, config in enumerate(configs):
        alone = run([config])
        pd.testing.assert_frame_equal(metrics_of(together, i), metrics_of(alone, 0), rtol=1e-12, atol=0)
        torch.testing.assert_close(together.params["W"][i], alone.params["W"][0], rtol=1e-12, atol=1e-14)


def test_configs_sharing_a_seed_see_the_same_batches():
    a, b = grid(base("sgd", hparams={"lr": 1e-3}), {"seed": [4, 4]})
    result = run([a, b])
    pd.testing.assert_frame_equal(metrics_of(result, 0), metrics_of(result, 1))
    c = run([grid(base("sgd", hparams={"lr": 1e-3}), {"seed": [5]})[0]])
    assert not metrics_of(c, 0)["value"].equals(metrics_of(result, 0)["value"])


def test_rerun_is_bitwise_identical():
    configs = grid(base("muon"), {"hparams.lr": [1e-3, 1e-2], "seed": [0, 1]})
    pd.testing.assert_frame_equal(run(configs).metrics, run(configs).metrics, rtol=0, atol=0)


def test_divergent_config_is_frozen_and_the_rest_go_on():
    configs = grid(base("sgd", steps=200), {"hparams.lr": [1e-3, 10.0], "seed": [0]})
    result = run(configs)
    assert result.diverged_step[0] is None
    assert result.diverged_step[1] is not None and 1 <= result.diverged_step[1] <= 200
    assert torch.isfinite(result.params["W"][1]).all(), "frozen at the last finite point"
    late = result.metrics[(result.metrics.config == 1) & (result.metrics.step >= result.diverged_step[1])]
    assert late["value"].isna().all()
    alone = run([configs[0]])
    pd.testing.assert_frame_equal(metrics_of(result, 0), metrics_of(alone, 0), rtol=1e-12, atol=0)


def test_generic_autograd_route_follows_the_fast_path(monkeypatch):
    configs = grid(base("adamw"), {"hparams.lr": [1e-2], "seed": [0, 1]})
    fast = run(configs)
    from toylab import problems
    cls = problems.get("linear_regression")
    monkeypatch.setattr(cls, "loss_and_grad", None)
    generic = run(configs)
    torch.testing.assert_close(fast.params["W"], generic.params["W"], rtol=1e-10, atol=1e-12)


def test_metrics_recorded_at_start_every_n_and_last_step():
    result = run([base("sgd", steps=12, metric_every=5)])
    assert sorted(result.metrics.step.unique()) == [0, 5, 10, 12]
    assert set(result.metrics.metric) >= {"batch_loss", "loss", "excess_loss", "dist_to_opt"}
