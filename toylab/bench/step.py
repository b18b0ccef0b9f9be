"""One optimizer step on large tensors against the memory floor and torch's own kernels.

Each row times one in-place step (`optim.InPlace.step`, as the engine runs it: fused, the
default, and eager) of a toylab
optimizer on a parameter of 4M float32 elements, shaped `[K, *shape]` (K configs of a 64×64
matrix, or one 2048×2048 matrix), with every coefficient a `[K]` tensor, step 10 (past the first-step
branches). The memory floor is the bytes that must move — each tensor the step must read and
each it must write, once — divided by the in-place bandwidth measured in the same run
(`timing.bandwidth`):

    AdamW: read θ, g, m, v; write θ, m, v → 7 passes.    SGD (momentum), Signum: 5 passes.

The toylab step writes θ_t into the other buffer (the engine keeps θ_{t−1} readable) and
keeps a scratch tensor or two (AdamW: (1 − β2)·g and the denominator). For reference
the same tensor is stepped by `torch.optim.AdamW` (fused=True, and foreach=True) and
`torch.optim.SGD` (foreach=True), in place, with scalar hyperparameters.
"""
from __future__ import annotations

import torch

from .. import optim
from .timing import median_seconds

PASSES = {"adamw": 7, "sgd": 5, "signsgd": 5}
HPARAMS = {"adamw": {}, "sgd": {"momentum": 0.9}, "signsgd": {"momentum": 0.9}}
TORCH = {
    "adamw": [("torch.optim.AdamW fused", lambda p: torch.optim.AdamW(p, lr=1e-3, fused=True)),
              ("torch.optim.AdamW foreach", lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=True))],
    "sgd": [("torch.optim.SGD foreach", lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, foreach=True))],
}


def toylab_step(name: str, shape: tuple[int, ...], device: torch.device, repeats: int, fused: bool) -> float:
    opt = optim.get(name)
    K = shape[0]
    resolved = {k: o.default for k, o in opt.hparams.items()} | HPARAMS[name]
    hp = optim.hp_tensors(opt, [resolved] * K, torch.float64, device)
    hp.update(lr_max=hp["lr"], normalized=set())
    params = {"W": torch.randn(shape, device=device)}
    other = {"W": torch.empty_like(params["W"])}
    grads = {"W": torch.randn(shape, device=device)}
    stepper = optim.InPlace(opt, params, hp, fused=fused)
    stepper.prepare(1, 10)
    stepper.step(params, other, grads, 1)  # the first step's branches and scratch
    return median_seconds(lambda: stepper.step(params, other, grads, 10), device, repeats)


def torch_step(make, shape, device, repeats) -> float:
    p = torch.nn.Parameter(torch.randn(shape, device=device))
    p.grad = torch.randn(shape, device=device)
    opt = make([p])
    for _ in range(10):
        opt.step()
    return median_seconds(opt.step, device, repeats)


def table(shapes, bandwidth: float, device: torch.device, repeats: int) -> list[dict]:
    rows = []
    for shape in shapes:
        numel = torch.Size(shape).numel()
        for name, passes in PASSES.items():
            floor = passes * 4 * numel / bandwidth
            runs = [(f"toylab {name} {form}", lambda fused=fused: toylab_step(name, shape, device, repeats, fused))
                    for form, fused in [("fused", True), ("eager", False)]]
            runs += [(label, lambda make=make: torch_step(make, shape, device, repeats))
                     for label, make in TORCH.get(name, [])]
            for label, run in runs:
                seconds = run()
                rows.append({"shape": "×".join(map(str, shape)), "optimizer": name, "implementation": label,
                             "ms": 1e3 * seconds, "floor ms": 1e3 * floor, "× floor": seconds / floor})
    return rows
