"""The probes' overhead: `toylab.bench_probes.probe_overhead` (branch `probes`) when present.

That function times a K = 256 AdamW sweep with every probe against the same sweep without
probes and returns the ratio. Until it is merged this reports that it was not measured.
"""
from __future__ import annotations

import importlib.util


def table(K: int, steps: int, device, repeats: int) -> list[dict]:
    if importlib.util.find_spec("toylab.bench_probes") is None:
        return [{"measured": False, "note": "toylab.bench_probes not merged yet: not measured"}]
    from ..bench_probes import probe_overhead

    ratio = probe_overhead(K=K, steps=steps, device=str(device), repeats=repeats)
    return [{"measured": True, "K": K, "steps": steps, "probed time / plain time": ratio}]
