"""The batched engine: K configs at once equal K runs alone; divergence is contained."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from toylab import engine
from toylab.config import RunConfig
from toylab.grids import grid

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


def test_recorded_metrics_are_the_closed_form_at_each_configs_point():
    """The last record of each config (seeds interleaved in the given order) against numpy:
    excess loss tr(ΔᵀMΔ), Δ = W − W_opt, with its own seed's data; dist_to_opt = ‖Δ‖_F."""
    from toylab import problems

    configs = [c.resolve() for c in grid(base("adamw", steps=7, metric_every=3), {"hparams.lr": [1e-3, 1e-1],
                                                                                  "seed": [2, 0, 1]})]
    result = engine.run_batch(configs)
    last = result.metrics[result.metrics.step == 7].pivot(index="config", columns="metric", values="value")
    problem = problems.build("linear_regression", configs[0].problem_options, dtype=torch.float64)
    for i, c in enumerate(configs):
        data = problem.make_data(engine.seed_generator(c.seed, "data", torch.device("cpu")))
        delta = (result.params["W"][i] - data["w_opt"]).numpy()
        excess = np.einsum("ij,ik,kj->", delta, data["second_moment"].numpy(), delta)
        assert last.loc[i, "excess_loss"] == pytest.approx(excess, rel=1e-12)
        assert last.loc[i, "dist_to_opt"] == pytest.approx(np.linalg.norm(delta), rel=1e-12)


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_blocks_of_configs_change_no_value(monkeypatch, optimizer):
    """A batch stepped in blocks (here 3, 3 and 1 configs of each of 3 seeds, one diverging) gives
    every metric, probe value, parameter and divergence step of the batch stepped as one block, bit
    for bit. On the problem size whose per-seed products are batch independent
    (tests/test_batch_independence.py; at d = 6, D = 3 they are not, blocks or no blocks)."""
    problem = {"d": 12, "D": 4, "condition_number": 10.0, "batch_size": 8}
    run = RunConfig("linear_regression", optimizer, problem, steps=12, metric_every=4, dtype="float64",
                    probes=("norms", "moments"), probe_every=5)
    configs = [c.resolve() for c in grid(run, {"hparams.lr": [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1e30],
                                               "seed": [0, 2, 1]})]
    whole = engine.run_batch(configs)
    monkeypatch.setattr(engine, "BLOCK_BYTES", 3 * 3 * 13 * 4 * 8)  # 9 configs of 13 × 4 float64 weights
    assert engine._order(configs)[1] == 3
    blocked = engine.run_batch(configs)
    assert blocked.diverged_step == whole.diverged_step and any(whole.diverged_step)
    assert torch.equal(blocked.params["W"], whole.params["W"])
    pd.testing.assert_frame_equal(_by_config(blocked.metrics), _by_config(whole.metrics), rtol=0, atol=0)
    assert set(blocked.tables) == set(whole.tables) >= {"norms"}
    for name, table in whole.tables.items():
        pd.testing.assert_frame_equal(_by_config(blocked.tables[name]), _by_config(table), rtol=0, atol=0)


def _by_config(frame):
    """Rows come in the order configs ran; each config's rows in step order."""
    return frame.sort_values("config", kind="stable").reset_index(drop=True)



def test_blocks_at_the_default_size_change_no_value(monkeypatch):
    """The bench's workload (d = 64, D = 16, float32) at K = 2,048, which the default `BLOCK_BYTES`
    splits into blocks, gives every metric, parameter and divergence step of the batch stepped as
    one block (blocking off), bit for bit."""
    run = RunConfig("linear_regression", "adamw", {"d": 64, "D": 16, "batch_size": 32, "reduction": "mean"},
                    steps=3, metric_every=2)
    configs = [c.resolve() for c in grid(run, {"hparams.lr": [*np.geomspace(1e-4, 1e-2, 511).tolist(), 1e30],
                                               "seed": [0, 1, 2, 3]})]
    assert engine._order(configs)[1] is not None
    blocked = engine.run_batch(configs)
    monkeypatch.setattr(engine, "BLOCK_BYTES", 2**40)
    assert engine._order(configs)[1] is None
    whole = engine.run_batch(configs)
    assert blocked.diverged_step == whole.diverged_step and any(whole.diverged_step)
    assert torch.equal(blocked.params["W"], whole.params["W"])
    pd.testing.assert_frame_equal(_by_config(blocked.metrics), _by_config(whole.metrics), rtol=0, atol=0)


def test_cuda_steps_the_whole_batch_as_one_block():
    """Cache-sized blocks are for the CPU: the batch the CPU steps in blocks runs on CUDA as one
    block, seed-sorted (each block would cost a GPU its own kernel launches)."""
    run = RunConfig("linear_regression", "adamw", {"d": 64, "D": 16}, steps=3)
    configs = [c.resolve() for c in grid(run, {"hparams.lr": np.geomspace(1e-4, 1e-2, 512).tolist(),
                                               "seed": [3, 1]})]
    assert engine._order(configs, cache_blocks=True)[1] is not None
    order, per_block = engine._order(configs, cache_blocks=False)
    assert per_block is None
    assert [configs[i].seed for i in order] == [1] * 512 + [3] * 512


def reference_run(config):
    """One config alone, written out: functional `update`, a step's result kept only while the
    loss and the parameters stay finite (the engine's rule with blowup = 0). Returns the step it
    diverged at (or None) and the parameters it froze at."""
    from toylab import optim, problems

    cpu = torch.device("cpu")
    problem = problems.build(config.problem, config.problem_options, dtype=getattr(torch, config.dtype))
    opt = optim.get(config.optimizer)
    data = problem.make_data(engine.seed_generator(config.seed, "data", cpu))
    stream = engine.seed_generator(config.seed, "stream", cpu)
    params = {k: p[None] for k, p in problem.init_params(engine.seed_generator(config.seed, "init", cpu)).items()}
    hp = optim.hyperparameters(opt, [config.hparams], torch.float64, cpu)
    state = opt.init(params, hp)
    for t in range(1, config.steps + 1):
        batch = {k: v[None] for k, v in problem.sample(data, stream, t).items()}
        loss, grads = problem.loss_and_grad(params, batch)
        new, state, _ = opt.update(grads, state, params, hp, t)
        if not (torch.isfinite(loss).all() and all(torch.isfinite(p).all() for p in new.values())):
            return t, params
        params = new
    return None, params


@pytest.mark.parametrize("optimizer, lrs", [("sgd", [1e-3, 0.5, 10.0]), ("adamw", [1e-2, 1e30]),
                                            ("signsgd", [1e-3, 1e160])])
def test_divergence_matches_the_written_out_rule(optimizer, lrs):
    """Same diverged step and the same frozen point as a plain loop that stops at the first
    non-finite loss or parameter, with the blow-up threshold off."""
    configs = [c.resolve() for c in grid(base(optimizer, steps=120, blowup=0), {"hparams.lr": lrs, "seed": [0, 1]})]
    result = engine.run_batch(configs)
    assert any(s is not None for s in result.diverged_step)
    for i, config in enumerate(configs):
        step, frozen = reference_run(config)
        assert result.diverged_step[i] == step
        torch.testing.assert_close(result.params["W"][i], frozen["W"][0], rtol=1e-12, atol=1e-14)


def test_loss_blowup_is_divergence():
    """Signum at a huge lr stays finite (|θ| grows by lr per step) but its loss passes 1e6 × the
    first one: diverged by default, not with blowup = 0; a modest lr is not touched."""
    configs = grid(base("signsgd", steps=50, metric_every=1, hparams={"momentum": 0.9}), {"hparams.lr": [1e-3, 1e3]})
    result = run(configs)
    assert result.diverged_step[0] is None and result.diverged_step[1] is not None
    off = run([RunConfig(**{**c.__dict__, "blowup": 0}) for c in configs])
    assert off.diverged_step == [None, None]
    assert torch.isfinite(off.params["W"]).all()
    last = off.metrics[(off.metrics.config == 1) & (off.metrics.metric == "batch_loss")]
    first = last.value.iloc[1]  # step 1: the loss at θ_0
    assert last.value.iloc[-1] > 1e6 * first, "the threshold the default catches is really passed"
    late = result.metrics[(result.metrics.config == 1) & (result.metrics.step >= result.diverged_step[1])]
    assert late["value"].isna().all()


def test_bad_blowup_is_a_one_line_error():
    from toylab.options import UserError
    with pytest.raises(UserError, match="blowup=0.5"):
        base(blowup=0.5).resolve()


def test_a_run_leaves_torchs_symbolic_shapes_unimported():
    """`torch.broadcast_shapes` imports torch's symbolic-shape machinery and sympy, ≈ 1.5 s of
    every command's start on this machine; the engine's step-count powers do without it."""
    code = ("import sys; from toylab import engine; from toylab.config import RunConfig; "
            "engine.run_batch([RunConfig('linear_regression', 'adamw', {'d': 4, 'D': 2}, steps=3).resolve()]); "
            "print(sorted(m for m in ('sympy', 'torch.fx.experimental.symbolic_shapes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
