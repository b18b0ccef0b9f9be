"""The fused optimizer steps (`optim/fused.py`, the default): each config's θ, state and direction
do not depend on the batch, bit for bit, and agree with the eager step (the pure reference) to
rounding; without a C compiler every step runs eagerly."""
import dataclasses

import pytest
import torch

from toylab import engine, optim
from toylab.config import RunConfig
from toylab.experiments import grid
from toylab.optim import fused

K_MAX = 256
STEPS = 4
SAMPLED = [0, 1, 2, 3, 5, 6, 37, 63, 128, 255]  # configs at different offsets modulo the vector width
# rows of n elements: aligned (a multiple of every vector width) and odd (a scalar or masked tail)
SHAPES = {"aligned": {"W": (32, 32), "b": (64,)}, "odd": {"W": (17, 59), "b": (1003,)}}
HPARAMS = {"adamw": {}, "sgd": {"momentum": 0.9, "weight_decay": 1e-2}, "signsgd": {"momentum": 0.9},
           "muon": {}}
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def hyperparameters(name: str, dtype, configs: list[int]) -> dict:
    """Per-config hyperparameters that differ in every coefficient (lr, β's, ε, decay) per config."""
    opt = optim.get(name)
    rows = []
    for k in configs:
        hp = {key: o.default for key, o in opt.hparams.items()} | HPARAMS[name]
        hp["lr"] = 1e-3 * (1 + k % 17)
        if "betas" in hp:
            hp["betas"] = (0.8 + 0.01 * (k % 11), 0.99 + 0.0009 * (k % 7))
            hp["eps"] = 1e-8 * (1 + k % 5)
        if name == "sgd":
            hp["nesterov"] = k % 2 == 0
            hp["decoupled_decay"] = k % 3 == 0
        if name == "muon":
            hp["nesterov"] = k % 2 == 0
            hp["adamw_lr"] = 1e-3 * (1 + k % 13)
        hp["weight_decay"] = 1e-2 * (k % 4)
        rows.append(hp)
    hp = optim.hp_tensors(opt, rows, torch.float64, "cpu")
    return hp | {"lr_max": hp["lr"], "normalized": set()}


def run(name: str, shapes: dict, dtype, configs: list[int], use_fused: bool):
    """`STEPS` steps of the given configs (indices into one fixed population of K_MAX): θ, state, directions."""
    gen = torch.Generator().manual_seed(0)
    population = {k: torch.randn((K_MAX, *s), generator=gen, dtype=dtype) for k, s in shapes.items()}
    grads = [{k: torch.randn((K_MAX, *s), generator=gen, dtype=dtype) for k, s in shapes.items()}
             for _ in range(STEPS)]
    index = torch.tensor(configs)
    params = {k: p[index].clone() for k, p in population.items()}
    if name != "muon":
        params.pop("W")
    other = {k: torch.empty_like(p) for k, p in params.items()}
    stepper = optim.InPlace(optim.get(name), params, hyperparameters(name, dtype, configs), fused=use_fused)
    stepper.prepare(1, STEPS)
    directions = []
    for t in range(1, STEPS + 1):
        aux = stepper.step(params, other, {k: grads[t - 1][k][index] for k in params}, t, direction=True)
        directions.append({k: u.clone() for k, u in aux["direction"].items()})
        params, other = other, params
    state = {f"{s}/{k}": v for s, per in stepper.state.items() for k, v in per.items()}
    assert (stepper.fused is not None) == (use_fused and fused.library() is not None)
    return {**{f"theta/{k}": p for k, p in params.items()}, **state,
            **{f"u{t}/{k}": u for t, d in enumerate(directions) for k, u in d.items()}}


# Not the fused kernels': Newton–Schulz's float64 batched matmuls on [17, 59] matrices give a
# config different bits alone and in a batch, eagerly too (orthogonalize.py's products; every
# elementwise part of Muon, and Muon on the aligned shapes and in float32, is independent).
NS_FLOAT64_ODD = pytest.mark.xfail(strict=True, reason="float64 Newton–Schulz on [17, 59] depends on the batch")
CASES = [pytest.param(name, layout, dtype, id=f"{name}-{layout}-{str(dtype)[6:]}",
                      marks=NS_FLOAT64_ODD if (name, layout, dtype) == ("muon", "odd", torch.float64) else ())
         for name in HPARAMS for layout in SHAPES for dtype in (torch.float32, torch.float64)]


@pytest.fixture(scope="module", autouse=True)
def compiler():
    assert fused.library() is not None, "no C compiler: the fused kernels cannot be built here"


@pytest.mark.parametrize("name, layout, dtype", CASES)
def test_fused_step_is_batch_independent(name, layout, dtype):
    alone = {k: run(name, SHAPES[layout], dtype, [k], True) for k in SAMPLED}
    for K in (1, 7, 64, 256):
        batch = run(name, SHAPES[layout], dtype, list(range(K)), True)
        for k in (k for k in SAMPLED if k < K):
            for key, value in batch.items():
                assert torch.equal(value[k], alone[k][key][0]), f"{name} K={K} config {k}: {key} differs"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("layout", list(SHAPES))
@pytest.mark.parametrize("name", list(HPARAMS))
def test_fused_step_agrees_with_eager(name, layout, dtype):
    """To rounding: relative `RTOL` (float32: Muon's float32 Newton–Schulz on the transposed view
    rounds differently, 1e-4); Signum's direction is sign(m), equal where m is not within rounding of 0."""
    configs = list(range(64))
    eager, fast = run(name, SHAPES[layout], dtype, configs, False), run(name, SHAPES[layout], dtype, configs, True)
    rtol = 1e-4 if name == "muon" and dtype == torch.float32 else RTOL[dtype]
    for key, value in eager.items():
        torch.testing.assert_close(fast[key], value, rtol=rtol, atol=rtol * value.abs().max().item(), msg=key)


def test_without_a_compiler_every_step_is_eager(monkeypatch):
    configs = list(range(7))
    eager = run("adamw", SHAPES["odd"], torch.float32, configs, False)
    monkeypatch.setattr(fused, "library", lambda: None)
    fallback = run("adamw", SHAPES["odd"], torch.float32, configs, True)
    assert all(torch.equal(fallback[key], value) for key, value in eager.items())


def test_engine_runs_fused_by_default_and_eager_on_request():
    """The engine's default is the fused step (`compile=True`); compile=False runs `step_`,
    agreeing to rounding (float64, 1e-12 relative)."""
    base = RunConfig("linear_regression", "adamw", {"d": 6, "D": 3, "batch_size": 8}, steps=12, metric_every=4,
                     dtype="float64")
    assert base.compile, "the fused step is not the default"
    configs = [c.resolve() for c in grid(base, {"hparams.lr": [1e-3, 1e-2], "seed": [0, 1]})]
    default = engine.run_batch(configs)
    eager = engine.run_batch([dataclasses.replace(c, compile=False) for c in configs])
    assert default.fused and not eager.fused
    torch.testing.assert_close(default.params["W"], eager.params["W"], rtol=1e-12, atol=1e-15)
    assert default.diverged_step == eager.diverged_step
