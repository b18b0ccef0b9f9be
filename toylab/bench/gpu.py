"""The headline workload on a GPU: K AdamW configs against the torch.optim loop and the GPU's floor.

Workload as in `floor.py` (linear regression d = 64, D = 16, batch 32, lrs × 4 seeds). Rows per K,
each in configs·steps per wall second with the device synchronised (medians of `repeats` runs
after a warm-up run):

* `engine eager` / `engine compiled`: `engine.run_batch(..., device="cuda")`;
* `torch.optim loop (cuda)`: each config alone, autograd and `torch.optim.AdamW` on the GPU;
  `torch.optim loop (cpu)`: the same loop on this machine's CPU, one thread (the loop a user
  without the engine would run on a laptop);
* `floor`: the two per-seed gradient products into kept buffers, one `torch.optim.AdamW(fused=True)`
  pass over `[K, d+1, D]` and the sampling of one step, each timed alone on the GPU.

At small K a GPU step is bound by kernel launches (a few µs each, a few hundred per step), so the
floor (a handful of kernels) is far below the engine there; at large K both become bandwidth-bound.
"""
from __future__ import annotations

import torch

from .. import engine, problems
from .floor import PROBLEM, SEEDS, configs
from .sweep import torch_loop
from .timing import median_seconds


def floor_seconds(K: int, device: torch.device, repeats: int) -> float:
    """Seconds per step of the floor's three parts on `device`."""
    S = min(K, SEEDS)
    n, d1, D, B = K // S, PROBLEM["d"] + 1, PROBLEM["D"], PROBLEM["batch_size"]
    w, x, r = (torch.randn(S, n * D, d1, device=device), torch.randn(S, B, d1, device=device),
               torch.randn(S, n * D, B, device=device))
    r_out, g_out = torch.empty_like(r), torch.empty_like(w)
    gemm = median_seconds(lambda: (torch.matmul(w, x.mT, out=r_out), torch.matmul(r, x, out=g_out)), device,
                          10 * repeats)
    p = torch.nn.Parameter(torch.randn(K, d1, D, device=device))
    p.grad = torch.randn_like(p)
    adamw = torch.optim.AdamW([p], lr=1e-3, fused=True)
    adamw_pass = median_seconds(adamw.step, device, 10 * repeats)
    problem = problems.build("linear_regression", PROBLEM, device=device)
    data = problem.make_data(engine.seed_generator(0, "data", device))
    gen = engine.seed_generator(0, "stream", device)
    sampling = S * median_seconds(lambda: problem.sample_many(data, gen, range(1, 65)), device, repeats) / 64
    return gemm + adamw_pass + sampling


def table(Ks, steps: int, loop_steps: int, repeats: int, device: torch.device, compiled: bool = True) -> list[dict]:
    cpu = torch.device("cpu")
    torch.set_num_threads(1)
    loop_cpu = 4 * loop_steps / median_seconds(torch_loop("adamw", loop_steps, cpu), cpu, repeats)
    loop_gpu = 4 * loop_steps / median_seconds(torch_loop("adamw", loop_steps, device), device, repeats)
    rows = []
    for K in Ks:
        floor = K / floor_seconds(K, device, repeats)
        for label, compile_ in [("eager", False), ("compiled", True)][:2 if compiled else 1]:
            batch = configs(K, steps, compile_)
            compile_s = engine.run_batch(batch, device=str(device)).compile_seconds  # warm-up (compiles)
            seconds = median_seconds(lambda: engine.run_batch(batch, device=str(device)), device, repeats)
            ours = K * steps / seconds
            rows.append({"K": K, "engine": label, "cfg·steps/s": ours, "floor cfg·steps/s": floor,
                         "× floor time": floor / ours, "torch.optim loop cuda cfg·steps/s": loop_gpu,
                         "× loop (cuda)": ours / loop_gpu, "torch.optim loop cpu cfg·steps/s": loop_cpu,
                         "× loop (cpu, 1 thread)": ours / loop_cpu, "compile s": compile_s})
    return rows
