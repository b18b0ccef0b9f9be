"""Cost of the probes: a K = 256 linear-regression sweep with every probe against none.

d = 64, D = 16, batch 32, 500 AdamW steps, all probes every 10 steps (51 probed steps, with
step 1). The ratio is the median time of the probed run over the median time of the plain one,
after a warm-up run, the runs alternating; the goal is ≤ 2. Beside it, each probe alone: its
extra time per probed step. On the CPU the time is this
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


def probed_steps(steps: int, probe_every: int) -> int:
    """Step 1, every `probe_every`-th step and the last (the engine's probe steps)."""
    return len({1, steps} | set(range(probe_every, steps + 1, probe_every)))


def probe_costs(K: int = 256, steps: int = 500, probe_every: int = 10, device: str = "cpu",
                repeats: int = 3) -> dict[str, float]:
    """`ratio`: time with all probes every `probe_every` steps over time without probes; and per
    probe, its ms per probed step alone: (time with that probe − plain time) / probed steps.
    All the sweeps alternate within each round; medians over the rounds."""
    runs = {"plain": sweep(K, steps, (), probe_every), "all": sweep(K, steps, PROBES, probe_every),
            **{name: sweep(K, steps, (name,), probe_every) for name in PROBES}}
    engine.run_batch(runs["all"][:2], device=device)  # warm-up
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, configs in runs.items():
            times[name].append(seconds(configs, device))
    median = {name: statistics.median(t) for name, t in times.items()}
    per_step = {f"{name} ms/probed step": 1e3 * (median[name] - median["plain"]) / probed_steps(steps, probe_every)
                for name in PROBES}
    return {"ratio": median["all"] / median["plain"], **per_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--K", type=int, default=256)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--probe-every", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runtime.configure()
    costs = probe_costs(args.K, args.steps, args.probe_every, args.device, args.repeats)
    print(f"probe overhead (K={args.K}, {args.steps} steps, all probes every {args.probe_every}, "
          f"{args.device}): {costs.pop('ratio'):.2f}x; " + ", ".join(f"{k} {v:.1f}" for k, v in costs.items()))


if __name__ == "__main__":
    main()
