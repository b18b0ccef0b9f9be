"""Muon's orthogonalizers: time per call next to their distance to the exact polar factor.

Each row runs one orthogonalizer of `optim.orthogonalize` (float32, as Muon's `ns_dtype=auto` on
CPU) on `[K, m, n]` inputs G = U diag(σ) Vᵀ with random orthogonal U, V and σ geometric from 1
down to 10⁻³ (the range Polar Express's coefficients are built for), and reports

    ms           median time of one call on the whole batch: CPU time of this thread on the CPU
                 (the machine may be shared), wall time with the device synchronised on a GPU
    × NS-5       that time over the default (5 quintic Newton–Schulz steps) on the same shape;
                 all methods of a shape are timed in turn, repetition by repetition, so load
                 from other processes falls on all of them alike
    polar error  mean over the K matrices of ‖O − UVᵀ‖_F/‖UVᵀ‖_F, against the float64 polar factor

`stored_seconds` reads the stored table back (reports use it instead of timing while they render).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from ..optim.orthogonalize import orthogonalize
from ..probes.orthogonality import polar_factor
from .timing import synchronize

STORED = Path(__file__).resolve().parents[2] / "reports/bench/orthogonalizers.csv"  # `make bench` writes it
METHODS = [("newton_schulz", 1), ("newton_schulz", 3), ("newton_schulz", 5), ("newton_schulz", 8),
           ("polar_express", 1), ("polar_express", 3), ("polar_express", 5), ("polar_express", 8), ("svd", None)]


def test_matrices(K: int, m: int, n: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """`[K, m, n]` float64 matrices with singular values geometric from 1 to 10⁻³."""
    gen = torch.Generator().manual_seed(seed)
    r = min(m, n)
    left = torch.linalg.qr(torch.randn(K, m, r, generator=gen, dtype=torch.float64)).Q
    right = torch.linalg.qr(torch.randn(K, n, r, generator=gen, dtype=torch.float64)).Q
    sigma = torch.logspace(0, -3, r, dtype=torch.float64)
    return ((left * sigma) @ right.mT).to(device)


def interleaved_seconds(fns: list, device: torch.device, repeats: int) -> list[float]:
    """Median seconds per function, timed in turn within each repetition after one warm-up each."""
    clock = time.perf_counter if device.type == "cuda" else time.thread_time
    times = [[] for _ in fns]
    for _ in range(repeats + 1):
        for fn, record in zip(fns, times):
            synchronize(device)
            start = clock()
            fn()
            synchronize(device)
            record.append(clock() - start)
    return [statistics.median(t[1:]) for t in times]


def table(shapes, device: torch.device, repeats: int) -> list[dict]:
    rows = []
    for K, m, n in shapes:
        G64 = test_matrices(K, m, n, device)
        G, exact = G64.float(), polar_factor(G64)
        eps = torch.full((K,), 1e-7, device=device)
        runs = [lambda G, name=name, steps=steps: orthogonalize(G, eps, name, steps or 0)
                for name, steps in METHODS]
        seconds = interleaved_seconds([lambda run=run: run(G) for run in runs], device, repeats)
        reference = seconds[METHODS.index(("newton_schulz", 5))]
        for (name, steps), run, s in zip(METHODS, runs, seconds):
            error = ((run(G).double() - exact).norm(dim=(-2, -1)) / exact.norm(dim=(-2, -1))).mean()
            rows.append({"K×m×n": f"{K}×{m}×{n}", "orthogonalizer": name, "steps": steps or "-",
                         "ms": 1e3 * s, "× NS-5": s / reference, "polar error": float(error)})
    return rows


def stored_seconds(keys, path=STORED) -> tuple[list[float], str]:
    """Seconds per call from the stored table at `path` (`make bench`) for each key (m×n shape,
    orthogonalizer, steps; NaN or "-" for the SVD), NaN where the table or the row is missing,
    and the batch sizes K the table timed those shapes at ("5/16", "?" when none)."""
    import pandas as pd

    keys = [(shape, name, "-" if pd.isna(steps) or steps == "-" else str(int(steps))) for shape, name, steps in keys]
    rows = pd.read_csv(path, dtype={"steps": str}).to_dict("records") if Path(path).exists() else []
    for r in rows:
        r["K"], r["shape"] = r["K×m×n"].split("×", 1)
    seconds = {(r["shape"], r["orthogonalizer"], r["steps"]): r["ms"] / 1e3 for r in rows}
    batch = sorted({r["K"] for r in rows if r["shape"] in {k[0] for k in keys}}, key=int)
    return [seconds.get(k, float("nan")) for k in keys], "/".join(batch) or "?"
