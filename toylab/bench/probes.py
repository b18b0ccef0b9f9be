"""The probes' overhead, from `toylab.bench_probes.probe_overhead`.

That function times a K-config AdamW sweep on linear regression with every probe (norms,
spectra, moments) every 10 steps against the same sweep without probes, medians after a
warm-up, and returns the ratio probed time / plain time.
"""
from __future__ import annotations

from ..bench_probes import probe_overhead


def table(K: int, steps: int, device, repeats: int) -> list[dict]:
    ratio = probe_overhead(K=K, steps=steps, device=str(device), repeats=repeats)
    return [{"K": K, "steps": steps, "probes": "norms, spectra, moments every 10 steps",
             "probed time / plain time": ratio}]
