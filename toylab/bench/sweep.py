"""Sweep throughput: the batched engine against a loop of single runs, on the same data.

Throughput is configs·steps per second on linear regression (d=64, D=16, batch 32). The engine
runs K configs (learning rates × up to 4 seeds) as one program, `engine.run_batch`, metrics only
at the end. The baseline runs each config alone, as a user of torch.optim would: sample the
same batch from the same seed stream, autograd backward, optimizer step. Its throughput does not
depend on K (it is a loop), so it is measured once, on 4 configs.

Baselines: AdamW, SGD (momentum 0.9) and Muon are `torch.optim`; torch has no SignSGD, so its
baseline is a hand-written loop (m ← lerp(m, g, 1−β), θ ← θ(1−ηλ) − η·sign(m)) on autograd
gradients. torch.optim.Muon runs Newton–Schulz in bfloat16, which is 19–50× slower than float32
on a CPU without fast bfloat16 matmuls (see newton_schulz.py), while the engine's Muon uses float32 on CPU (`ns_dtype=auto`), so
the Muon ratio on CPU mostly measures that choice.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import engine, problems
from ..config import RunConfig
from ..grids import grid
from .timing import median_seconds

PROBLEM = {"d": 64, "D": 16, "batch_size": 32, "reduction": "mean"}
OPTIMIZERS = ("adamw", "sgd", "signsgd", "muon")
HPARAMS = {"sgd": {"momentum": 0.9}, "signsgd": {"momentum": 0.9}}


def _signum(params, lr, momentum=0.9, weight_decay=0.0):
    """The SignSGD baseline: Signum by hand, since torch.optim has none."""
    buffers = [torch.zeros_like(p) for p in params]

    class Signum:
        def zero_grad(self):
            for p in params:
                p.grad = None

        @torch.no_grad()
        def step(self):
            for p, m in zip(params, buffers):
                m.lerp_(p.grad, 1 - momentum)
                p.mul_(1 - lr * weight_decay).add_(m.sign(), alpha=-lr)

    return Signum()


BASELINES = {
    "adamw": ("torch.optim.AdamW", lambda p, lr: torch.optim.AdamW(p, lr=lr)),
    "sgd": ("torch.optim.SGD", lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)),
    "signsgd": ("hand-written Signum loop", _signum),
    "muon": ("torch.optim.Muon (bfloat16 NS)", lambda p, lr: torch.optim.Muon(p, lr=lr)),
}


def sweep_configs(optimizer: str, K: int, steps: int) -> list[RunConfig]:
    seeds = list(range(min(K, 4)))
    lrs = np.geomspace(1e-4, 1e-2, K // len(seeds)).tolist()
    base = RunConfig("linear_regression", optimizer, dict(PROBLEM), dict(HPARAMS.get(optimizer, {})),
                     steps=steps, metric_every=steps)
    return [c.resolve() for c in grid(base, {"hparams.lr": lrs, "seed": seeds})]


def engine_throughput(optimizer: str, K: int, steps: int, repeats: int, device: torch.device) -> float:
    configs = sweep_configs(optimizer, K, steps)
    return K * steps / median_seconds(lambda: engine.run_batch(configs, device=str(device)), device, repeats)


def torch_loop(optimizer: str, steps: int, device: torch.device, n_configs: int = 4):
    """Each config alone: sample, autograd backward, optimizer step (a function to time)."""
    problem = problems.build("linear_regression", PROBLEM, device=device)
    make_optimizer = BASELINES[optimizer][1]

    def loop():
        for config in sweep_configs(optimizer, n_configs, steps):
            data = problem.make_data(engine.seed_generator(config.seed, "data", device))
            stream = engine.seed_generator(config.seed, "stream", device)
            w = problem.init_params(engine.seed_generator(config.seed, "init", device))["W"].requires_grad_()
            opt = make_optimizer([w], config.hparams["lr"])
            for t in range(1, steps + 1):
                batch = problem.sample(data, stream, t)
                opt.zero_grad()
                problem.loss({"W": w}, batch).backward()
                opt.step()

    return loop


def loop_throughput(optimizer: str, steps: int, repeats: int, device: torch.device, n_configs: int = 4) -> float:
    """configs·steps per second of `torch_loop`."""
    return n_configs * steps / median_seconds(torch_loop(optimizer, steps, device, n_configs), device, repeats)


def table(Ks, steps: int, repeats: int, device: torch.device, optimizers=OPTIMIZERS) -> list[dict]:
    rows = []
    for name in optimizers:
        baseline = loop_throughput(name, steps, repeats, device)
        for K in Ks:
            ours = engine_throughput(name, K, steps, repeats, device)
            rows.append({"optimizer": name, "K": K, "engine cfg·steps/s": ours,
                         "baseline": BASELINES[name][0], "baseline cfg·steps/s": baseline,
                         "speedup": ours / baseline})
    return rows
