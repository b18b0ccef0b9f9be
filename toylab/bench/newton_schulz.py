"""Newton–Schulz orthogonalisation against the GEMM floor, and against torch.optim.Muon's.

Each row times Muon's default orthogonalizer (`optim.orthogonalize`: float32, 5 quintic
Newton–Schulz steps) on `[K, m, n]` inputs. One step on X `[m, n]` (m ≤ n) is three matmuls: A = XXᵀ (2m²n flops),
B = bA + cA² (2m³), BX (2m²n). The GEMM floor is the total flops divided by the float32 rate of
those same three matmuls timed alone in the same run (`timing.matmul_rate`): what NS would take
if everything but the matmuls were free. `torch.optim.Muon` orthogonalises in bfloat16, one
matrix at a time (`torch.optim._muon._zeropower_via_newtonschulz`); it is timed on the small
sizes only, where it is already 20–50× slower on a CPU without fast bfloat16 matmuls.
"""
from __future__ import annotations

import torch

from ..optim.orthogonalize import NEWTON_SCHULZ_COEFFICIENTS, orthogonalize
from .timing import matmul_rate, median_seconds

STEPS = 5


def flops(K: int, m: int, n: int) -> float:
    m, n = min(m, n), max(m, n)
    return STEPS * K * (4 * m * m * n + 2 * m**3)


def table(shapes, device: torch.device, repeats: int, torch_max_size: int) -> list[dict]:
    from torch.optim._muon import _zeropower_via_newtonschulz

    rows = []
    for K, m, n in shapes:
        G = torch.randn(K, m, n, device=device)
        eps = torch.full((K,), 1e-7, device=device)
        a, b = min(m, n), max(m, n)
        rate = matmul_rate([((K, a, b), (K, b, a)), ((K, a, a), (K, a, a)), ((K, a, a), (K, a, b))],
                           device, repeats)
        floor = flops(K, m, n) / rate
        seconds = median_seconds(lambda: orthogonalize(G, eps, steps=STEPS), device, repeats)
        row = {"K×m×n": f"{K}×{m}×{n}", "GFLOP": flops(K, m, n) / 1e9, "float32 GEMM GFLOP/s": rate / 1e9,
               "toylab NS ms": 1e3 * seconds, "floor ms": 1e3 * floor, "× floor": seconds / floor,
               "torch.optim.Muon NS (bfloat16) ms": float("nan")}
        if max(m, n) <= torch_max_size:
            theirs = median_seconds(lambda: [_zeropower_via_newtonschulz(g, NEWTON_SCHULZ_COEFFICIENTS, STEPS, 1e-7)
                                             for g in G], device, max(1, repeats // 2))
            row["torch.optim.Muon NS (bfloat16) ms"] = 1e3 * theirs
        rows.append(row)
    return rows
