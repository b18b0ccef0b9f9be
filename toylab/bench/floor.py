"""The headline workload against torch.optim and against its measured floor, fused and eager.

Workload: K AdamW configs (lrs × 4 seeds) on linear regression d = 64, D = 16, batch 32, mean
reduction. Rows, each in configs·steps per second of this process's CPU time (one thread; with
two threads wall time is reported too, CPU time counting both threads):

* `engine fused` / `engine eager`: `engine.run_batch` with the default fused step or `--eager`, metrics
  only at the end; `fused, metrics every 10`: the fused step with the command's default metrics;
* `torch.optim loop`: each config alone, autograd and `torch.optim.AdamW` (`sweep.torch_loop`), CPU time;
* `floor`: what one step cannot go below, measured in the same run: the two per-seed gradient
  products timed alone (`[S, n·D, d+1] @ [S, d+1, B]` and `[S, n·D, B] @ [S, B, d+1]`, into
  kept output buffers), one
  bandwidth-bound AdamW pass (`torch.optim.AdamW(fused=True)`, scalar hyperparameters, in
  place on a `[K, d+1, D]` tensor: 7 passes and a square root) and the sampling of one step;
* `per-config floor`: the same with the two products per config, as the engine takes them where
  a per-seed GEMM would round a config's rows otherwise than its own product (README, What is
  reproducible): per seed, one `bmm` over its n configs, `[n, D, d+1] @ [d+1, B]` and
  `[n, D, B] @ [B, d+1]`, the batch a stride-0 operand. Where the check of `batched.group_mm`
  holds (this workload with MKL on this project's CPU), the engine takes the per-seed GEMMs.

`cli_sweep` runs the whole `toylab sweep` command (startup, caching and writing included) as a
subprocess and reports its CPU time; `cli_overhead` sets it against the engine alone.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .. import batched, engine, problems
from ..config import RunConfig
from ..grids import grid
from .sweep import torch_loop
from .timing import median_seconds

PROBLEM = {"d": 64, "D": 16, "batch_size": 32, "reduction": "mean"}
SEEDS = 4


def cpu_seconds(fn, repeats: int, warm_up: bool = True) -> tuple[float, float]:
    """Median CPU and wall seconds of `fn` (after one warm-up call, unless told otherwise)."""
    if warm_up:
        fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def configs(K: int, steps: int, eager: bool = False, metric_every: int | None = None) -> list[RunConfig]:
    """The workload's K configs; metrics only at the end unless `metric_every` says otherwise."""
    seeds = list(range(min(K, SEEDS)))
    base = RunConfig("linear_regression", "adamw", dict(PROBLEM), steps=steps, metric_every=metric_every or steps,
                     compile=not eager)
    return [c.resolve() for c in grid(base, {"hparams.lr": np.geomspace(1e-4, 1e-2, K // len(seeds)).tolist(),
                                             "seed": seeds})]


def floor_seconds(K: int, repeats: int, device: torch.device = torch.device("cpu"),
                  per_config: bool = False) -> dict[str, float]:
    """Seconds per step of the floor's three parts: CPU time on the CPU, synchronised wall time
    (`timing.median_seconds`) on a GPU; `per_config`: the products as per-config bmm's."""
    def seconds(fn, n):
        return median_seconds(fn, device, n) if device.type == "cuda" else cpu_seconds(fn, n)[0]

    S = min(K, SEEDS)
    n, d1, D, B = K // S, PROBLEM["d"] + 1, PROBLEM["D"], PROBLEM["batch_size"]
    w, x, r = (torch.randn(S, n * D, d1, device=device), torch.randn(S, B, d1, device=device),
               torch.randn(S, n * D, B, device=device))
    r_out, g_out = torch.empty_like(r), torch.empty_like(w)  # outputs kept, as the engine keeps them
    if per_config:
        w, r, r_out, g_out = (t.view(S, n, D, -1) for t in (w, r, r_out, g_out))

        def gemms():
            for s in range(S):
                batched.bmm(w[s], batched.shared(x[s].mT, n), out=r_out[s])
                batched.bmm(r[s], batched.shared(x[s], n), out=g_out[s])
    else:
        def gemms():
            torch.matmul(w, x.mT, out=r_out)
            torch.matmul(r, x, out=g_out)
    gemm = seconds(gemms, 20 * repeats)
    p = torch.nn.Parameter(torch.randn(K, d1, D, device=device))
    p.grad = torch.randn_like(p)
    adamw = torch.optim.AdamW([p], lr=1e-3, fused=True)
    adamw_pass = seconds(adamw.step, 20 * repeats)
    problem = problems.build("linear_regression", PROBLEM, device=device)
    data = problem.make_data(engine.seed_generator(0, "data", device))
    gen = engine.seed_generator(0, "stream", device)
    sampling = S * seconds(lambda: problem.sample_many(data, gen, range(1, 65)), repeats) / 64
    return {"GEMMs": gemm, "fused AdamW pass": adamw_pass, "sampling": sampling}


def table(Ks, threads, steps: int, repeats: int, loop_steps: int) -> list[dict]:
    """Per thread count and K: `repeats` rounds, each timing the torch.optim loop, the floor and
    every engine form once, in turn, so that a busy moment of the shared machine hits all of
    them; the rows hold the rounds' medians (ratios of medians)."""
    rows = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        loop_fn = torch_loop("adamw", loop_steps, torch.device("cpu"))
        for K in Ks:
            forms = {"fused": configs(K, steps), "eager": configs(K, steps, eager=True),
                     "fused, metrics every 10": configs(K, steps, metric_every=10)}
            loop_fn()
            loop, floor, per_config, cpu, wall = [], [], [], {k: [] for k in forms}, {k: [] for k in forms}
            for _ in range(repeats):
                loop.append(cpu_seconds(loop_fn, 1, warm_up=False)[0] / (4 * loop_steps))
                floor.append(sum(floor_seconds(K, 1).values()) / K)
                per_config.append(sum(floor_seconds(K, 1, per_config=True).values()) / K)
                for label, batch in forms.items():
                    c, w = cpu_seconds(lambda: engine.run_batch(batch), 1, warm_up=False)
                    cpu[label].append(c / (K * steps))
                    wall[label].append(w / (K * steps))
            loop, floor, per_config = (statistics.median(v) for v in (loop, floor, per_config))
            for label in forms:
                c, w = statistics.median(cpu[label]), statistics.median(wall[label])
                rows.append({"threads": n_threads, "K": K, "torch.optim loop cfg·steps/s": 1 / loop,
                             "floor cfg·steps/CPU-s": 1 / floor, "engine": label, "cfg·steps/CPU-s": 1 / c,
                             "cfg·steps/wall-s": 1 / w, "× torch loop": loop / c, "× floor time": c / floor,
                             "× per-config floor": c / per_config})
    return rows


CLI_VARIANTS = {"default options": [], "--metric-every = steps": ["--metric-every", "{steps}"], "--eager": ["--eager"]}


def cli_sweep(steps: int, K: int, loop: float, variant: str = "default options") -> dict:
    """The `toylab sweep` command end to end, K AdamW configs (K/4 lrs × 4 seeds), with its default
    options or one of `CLI_VARIANTS`."""
    seeds = min(K, SEEDS)
    with tempfile.TemporaryDirectory(prefix="toylab-bench-") as out:
        args = [str(Path(sys.executable).with_name("toylab")), "sweep", "linear_regression", "--optimizer", "adamw",
                "--lr", f"1e-4:1e-2:{K // seeds}" if K // seeds > 1 else "1e-4", "--seeds", f"0-{seeds - 1}",
                "--steps", str(steps), "--out", out, "--device", "cpu"]
        args += [a for k, v in PROBLEM.items() for a in ("-p", f"{k}={v}")]
        args += [a.format(steps=steps) for a in CLI_VARIANTS[variant]]
        env = {**os.environ, "TOYLAB_THREADS": "1", "OMP_NUM_THREADS": "1"}
        before = os.times()
        wall = time.perf_counter()
        subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - wall
        after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"command": f"toylab sweep, K = {K}, {steps:,} steps", "options": variant, "CPU s": cpu, "wall s": wall,
            "cfg·steps/CPU-s": K * steps / cpu, "torch.optim loop cfg·steps/s": loop, "× torch loop": K * steps / cpu / loop}


def cli_overhead(K: int, steps: int, repeats: int) -> dict:
    """The whole `toylab sweep` command with its default options (`cli_sweep`) against
    `engine.run_batch` alone on the same K configs in this process, in alternating rounds:
    medians of CPU seconds and their ratio."""
    batch = configs(K, steps, metric_every=10)
    engine.run_batch(batch)
    command, alone = [], []
    for _ in range(repeats):
        command.append(cli_sweep(steps, K, 1.0)["CPU s"])
        alone.append(cpu_seconds(lambda: engine.run_batch(batch), 1, warm_up=False)[0])
    whole, engine_alone = statistics.median(command), statistics.median(alone)
    return {"command": f"toylab sweep, K = {K:,}, steps = {steps:,}", "options": "default options",
            "CPU s": whole, "engine alone CPU s": engine_alone, "× engine": whole / engine_alone}
