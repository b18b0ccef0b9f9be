"""Timing and the two hardware floors every benchmark is compared with, measured in the same run.

* `median_seconds(fn)`: the median wall time of `repeats` calls after one warm-up call, with the
  device synchronised around each call (this machine is shared, so medians, not means).
* `bandwidth(device)`: bytes/s of in-place read+write passes over a 64 MiB float32 tensor, the
  best of `x.mul_(1.0)` (reads and writes x: 2 passes) and `x.add_(y)` (3 passes). An optimizer
  step that must read and write B bytes cannot beat B / bandwidth. (A plain `copy_` understates
  the bus: it pays for page faults on a fresh destination.)
* `matmul_rate(...)`: float32 flop/s of the given batched matmuls, timed alone.
"""
from __future__ import annotations

import statistics
import time

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn, device: torch.device, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import os
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def bandwidth(device: torch.device, repeats: int = 7, elements: int = 16 * 2**20) -> float:
    """Best in-place read+write bandwidth, bytes/s."""
    x = torch.rand(elements, device=device)
    y = torch.rand(elements, device=device)
    mul = 2 * x.nbytes / median_seconds(lambda: x.mul_(1.0), device, repeats)
    add = 3 * x.nbytes / median_seconds(lambda: x.add_(y), device, repeats)
    return max(mul, add)


def matmul_rate(shapes: list[tuple[tuple[int, ...], tuple[int, ...]]], device: torch.device,
                repeats: int = 5) -> float:
    """float32 flop/s of the batched matmuls `a @ b` for each (a.shape, b.shape), run back to back."""
    pairs = [(torch.randn(a, device=device), torch.randn(b, device=device)) for a, b in shapes]
    outs = [torch.empty(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]),
                        device=device) for a, b in pairs]
    flops = sum(2 * o.numel() * a.shape[-1] for (a, _), o in zip(pairs, outs))

    def run():
        for (a, b), o in zip(pairs, outs):
            torch.matmul(a, b, out=o)

    return flops / median_seconds(run, device, repeats)
