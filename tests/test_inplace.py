"""The engine's in-place form of every optimizer equals its functional view, bit for bit.

`optim.InPlace` (state preallocated, coefficients as float64 `[steps, K]` tables cast to the
parameters' dtype, θ_t written into a second buffer, the direction only when asked) against
`opt.update` (pure) on the same float64 hyperparameters, with an lr schedule, in float32 and
float64: every parameter, state tensor and direction is compared with `torch.equal`.
"""
import pytest
import torch

from toylab.optim import InPlace, get, hyperparameters
from toylab.options import resolve
from optim_util import SHAPES, trajectory
from test_optim_batched import BATCHES

STEPS, CHUNK = 20, 7  # chunks of 7 steps: tables restart mid-run


def lr_table(lr: torch.Tensor) -> torch.Tensor:
    """A warmup-then-decay schedule `[STEPS + 1, K]`, float64."""
    t = torch.arange(STEPS + 1, dtype=torch.float64)[:, None]
    return lr * torch.clamp(t / 5, max=1.0) * (1 - t / (2 * STEPS))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(BATCHES))
def test_in_place_equals_functional(name, dtype):
    opt, values = get(name.split("_")[0]), BATCHES[name]
    K = len(values)
    params, grads = trajectory(steps=STEPS, dtype=dtype)
    params = {f"p{i}": torch.stack([p * (k + 1) for k in range(K)]) for i, p in enumerate(params)}
    grads = [{f"p{i}": torch.stack([g * (k - 1) for k in range(K)]) for i, g in enumerate(gs)} for gs in grads]
    resolved = [resolve("test", opt.hparams, v) for v in values]
    lr = lr_table(torch.tensor([v["lr"] for v in resolved], dtype=torch.float64))
    hp = hyperparameters(opt, resolved, torch.float64, "cpu", lr_max=lr.amax(0), normalized={"p1"})

    in_place = InPlace(opt, {k: p.clone() for k, p in params.items()}, hp, {"lr": lr})
    current = {k: p.clone() for k, p in params.items()}
    other = {k: torch.empty_like(p) for k, p in params.items()}
    functional, state = params, opt.init(params, hp)
    for t in range(1, STEPS + 1):
        if (t - 1) % CHUNK == 0:
            in_place.prepare(t, min(t + CHUNK - 1, STEPS))
        probing = t % 3 == 1
        aux = in_place.step(current, other, grads[t - 1], t, direction=probing)
        current, other = other, current
        functional, state, expected = opt.update(grads[t - 1], state, functional, hp.replace(lr=lr[t]), t)
        for k in params:
            assert torch.equal(current[k], functional[k]), (t, k)
            if probing:
                assert torch.equal(aux["direction"][k], expected["direction"][k]), (t, k)
        for s in state:
            for k in state[s]:
                assert torch.equal(in_place.state[s][k], state[s][k]), (t, s, k)
    assert not torch.equal(current["p1"], params["p1"])


def test_direction_is_skipped_unless_asked():
    opt = get("adamw")
    hp = hyperparameters(opt, [resolve("test", opt.hparams, {})], torch.float64, "cpu")
    params = {"w": torch.ones(1, 4)}
    in_place = InPlace(opt, params, hp)
    in_place.prepare(1, 1)
    assert in_place.step(params, params, {"w": torch.ones(1, 4)}, 1)["direction"] == {}
