"""The probes' cost, from `toylab.bench_probes.probe_costs`.

That function times a K-config AdamW sweep on linear regression with every probe (norms,
spectra, moments) every 10 steps, and with each probe alone, against the same sweep without
probes, medians after a warm-up, and returns the ratio probed time / plain time and each
probe's ms per probed step.
"""
from __future__ import annotations

from ..bench_probes import probe_costs


def table(K: int, steps: int, device, repeats: int) -> list[dict]:
    costs = probe_costs(K=K, steps=steps, device=str(device), repeats=repeats)
    return [{"K": K, "steps": steps, "probes": "norms, spectra, moments every 10 steps",
             "probed time / plain time": costs.pop("ratio"), **costs}]
