"""`make bench`: the batched engine against a loop of torch.optim runs, on the same data.

Sweep throughput is configs·steps per second. The engine runs K configs (learning rates ×
4 seeds) as one program; the baseline runs each config alone with autograd and the matching
`torch.optim` optimizer, sampling its batches from the same problem and seed stream. The
baseline's throughput does not depend on K (it is a loop), so it is measured on a few configs.
Medians over repeats, since this machine is shared and noisy.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import engine, problems
from .config import RunConfig
from .experiments import grid

PROBLEM = {"d": 64, "D": 16, "batch_size": 32, "reduction": "mean"}
TORCH_OPTIM = {
    "adamw": lambda p, lr: torch.optim.AdamW(p, lr=lr, weight_decay=0.01),
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "muon": lambda p, lr: torch.optim.Muon(p, lr=lr),
}


def sweep_configs(optimizer: str, K: int, steps: int) -> list[RunConfig]:
    seeds = list(range(min(K, 4)))
    lrs = np.geomspace(1e-4, 1e-2, K // len(seeds)).tolist()
    base = RunConfig("linear_regression", optimizer, dict(PROBLEM), steps=steps, metric_every=steps)
    return [c.resolve() for c in grid(base, {"hparams.lr": lrs, "seed": seeds})]


def engine_throughput(optimizer: str, K: int, steps: int, repeats: int) -> float:
    configs = sweep_configs(optimizer, K, steps)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.run_batch(configs)
        times.append(time.perf_counter() - start)
    return K * steps / statistics.median(times)


def torch_loop_throughput(optimizer: str, n_configs: int, steps: int) -> float:
    """Each config alone: sample, autograd backward, torch.optim step."""
    problem = problems.build("linear_regression", PROBLEM)
    start = time.perf_counter()
    for config in sweep_configs(optimizer, n_configs, steps):
        data = problem.make_data(engine.seed_generator(config.seed, "data", problem.device))
        stream = engine.seed_generator(config.seed, "stream", problem.device)
        w = problem.init_params(engine.seed_generator(config.seed, "init", problem.device))["W"].requires_grad_()
        opt = TORCH_OPTIM[optimizer]([w], config.hparams["lr"])
        for t in range(1, steps + 1):
            batch = problem.sample(data, stream, t)
            opt.zero_grad()
            problem.loss({"W": w}, batch).backward()
            opt.step()
    return n_configs * steps / (time.perf_counter() - start)


def sweep_table(optimizers, Ks, steps, repeats, threads) -> pd.DataFrame:
    rows = []
    for n in threads:
        torch.set_num_threads(n)
        for name in optimizers:
            baseline = torch_loop_throughput(name, 4, steps) if name in TORCH_OPTIM else float("nan")
            for K in Ks:
                ours = engine_throughput(name, K, steps, repeats)
                rows.append({"threads": n, "optimizer": name, "K": K, "engine cfg·steps/s": ours,
                             "torch.optim loop cfg·steps/s": baseline, "speedup": ours / baseline})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--K", default="1,16,256")
    parser.add_argument("--optimizers", default="adamw,sgd,muon")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args(argv)
    table = sweep_table(args.optimizers.split(","), [int(k) for k in args.K.split(",")], args.steps,
                        args.repeats, [int(t) for t in args.threads.split(",")])
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    table.assign(device=device).to_csv(args.out / "sweep_throughput.csv", index=False)


if __name__ == "__main__":
    main()
