"""Cost of the probes: a K = 256 linear-regression sweep with every probe against none.

d = 64, D = 16, batch 32, 500 AdamW steps, all probes every 10 steps (51 probed steps, with
step 1). The ratio is the median time of the probed run over the median time of the plain one,
both after a warm-up run, the two alternating; the goal is ≤ 1.5. On the CPU the time is this
process's CPU time (one torch thread), which other jobs on a shared machine disturb far less
than wall time; on CUDA it is wall time after a synchronisation.
`python -m toylab.bench_probes` prints it.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from . import engine, runtime
from .config import RunConfig
from .grids import grid

PROBLEM = {"d": 64, "D": 16, "batch_size": 32}
PROBES = ("norms", "spectra", "moments")


def sweep(K: int, steps: int, probes: tuple[str, ...], probe_every: int) -> list[RunConfig]:
    base = RunConfig("linear_regression", "adamw", dict(PROBLEM), steps=steps, metric_every=probe_every,
                     probes=probes, probe_every=probe_every)
    return [c.resolve() for c in grid(base, {"hparams.lr": np.geomspace(1e-4, 1e-1, K).tolist()})]


def seconds(configs: list[RunConfig], device: str) -> float:
    cuda = device.startswith("cuda")
    clock = time.perf_counter if cuda else time.process_time
    start = clock()
    engine.run_batch(configs, device=device)
    if cuda:
        torch.cuda.synchronize()
    return clock() - start


def probe_overhead(K: int = 256, steps: int = 500, probe_every: int = 10, device: str = "cpu",
                   repeats: int = 3) -> float:
    """Time with all probes every `probe_every` steps over time without probes."""
    plain, probed = sweep(K, steps, (), probe_every), sweep(K, steps, PROBES, probe_every)
    engine.run_batch(probed[:2], device=device)  # warm-up
    times = {"plain": [], "probed": []}
    for _ in range(repeats):
        times["plain"].append(seconds(plain, device))
        times["probed"].append(seconds(probed, device))
    return statistics.median(times["probed"]) / statistics.median(times["plain"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--K", type=int, default=256)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--probe-every", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runtime.configure()
    ratio = probe_overhead(args.K, args.steps, args.probe_every, args.device, args.repeats)
    print(f"probe overhead (K={args.K}, {args.steps} steps, all probes every {args.probe_every}, "
          f"{args.device}): {ratio:.2f}x")


if __name__ == "__main__":
    main()
