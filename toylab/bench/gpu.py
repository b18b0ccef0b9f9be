"""The headline workload on a GPU: K AdamW configs against the torch.optim loop and the GPU's floor.

Workload as in `floor.py` (linear regression d = 64, D = 16, batch 32, lrs × 4 seeds). Rows per K,
each in configs·steps per wall second with the device synchronised (medians of `repeats` runs
after a warm-up run):

* `engine`: `engine.run_batch(..., device="cuda")` (eager: the fused kernels are CPU kernels);
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

from .. import engine
from .floor import configs, floor_seconds
from .sweep import torch_loop
from .timing import median_seconds


def table(Ks, steps: int, loop_steps: int, repeats: int, device: torch.device) -> list[dict]:
    cpu = torch.device("cpu")
    torch.set_num_threads(1)
    loop_cpu = 4 * loop_steps / median_seconds(torch_loop("adamw", loop_steps, cpu), cpu, repeats)
    loop_gpu = 4 * loop_steps / median_seconds(torch_loop("adamw", loop_steps, device), device, repeats)
    rows = []
    for K in Ks:
        floor = K / sum(floor_seconds(K, repeats, device).values())
        batch = configs(K, steps)
        seconds = median_seconds(lambda: engine.run_batch(batch, device=str(device)), device, repeats)
        ours = K * steps / seconds
        rows.append({"K": K, "cfg·steps/s": ours, "floor cfg·steps/s": floor,
                     "× floor time": floor / ours, "torch.optim loop cuda cfg·steps/s": loop_gpu,
                     "× loop (cuda)": ours / loop_gpu, "torch.optim loop cpu cfg·steps/s": loop_cpu,
                     "× loop (cpu, 1 thread)": ours / loop_cpu})
    return rows
