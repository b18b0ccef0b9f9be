"""Device-side recording of probe values and their conversion to tidy tables, once, at the end.

Each probed step appends one flat device tensor per probe (the concatenation of every value,
configs that are no longer alive set to NaN); the layout (keys and sizes) is fixed by the first
step. `frames()` moves the `[steps, values]` block to the host in one transfer per probe and
builds the columns `config, step, <probe columns>, [index], value` with numpy (labels as
pandas categoricals: compact in memory and in Parquet).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from . import Context, Probe


class Recorder:
    def __init__(self, probes: list[Probe], K: int):
        self.probes, self.K = probes, K
        self.steps: list[int] = []
        self.values: dict[str, list[Tensor]] = {p.name: [] for p in probes}
        self.layout: dict[str, list[tuple[tuple[str, ...], int]]] = {}

    def record(self, ctx: Context, alive: Tensor) -> None:
        self.steps.append(ctx.step)
        for probe in self.probes:
            out = probe.measure(ctx)
            layout = [(key, 1 if v.dim() == 1 else v.shape[1]) for key, v in out.items()]
            if self.layout.setdefault(probe.name, layout) != layout:
                raise RuntimeError(f"probe {probe.name} changed its outputs at step {ctx.step}")
            if not out:
                continue
            flat = torch.cat([v.reshape(self.K, -1).to(torch.float64) for v in out.values()], dim=1)  # [K, n]
            self.values[probe.name].append(torch.where(alive[:, None], flat, torch.nan))

    def frames(self) -> dict[str, pd.DataFrame]:
        """One tidy DataFrame per probe that produced values."""
        tables = {}
        for probe in self.probes:
            if not self.values[probe.name]:
                continue
            block = torch.stack(self.values[probe.name]).cpu().numpy()  # [S, K, n]
            S, K, n = block.shape
            layout = self.layout[probe.name]
            sizes = np.array([size for _, size in layout])
            key_of_value = np.repeat(np.arange(len(layout)), sizes)  # [n]
            index = np.concatenate([np.arange(size) for size in sizes])
            cols = {"config": np.tile(np.repeat(np.arange(K), n), S),
                    "step": np.repeat(np.array(self.steps), K * n)}
            for j, column in enumerate(probe.columns):
                labels = [key[j] for key, _ in layout]
                categories = list(dict.fromkeys(labels))
                codes = np.array([categories.index(label) for label in labels])[key_of_value]
                cols[column] = pd.Categorical.from_codes(np.tile(codes, S * K), categories)
            if sizes.max() > 1:
                cols["index"] = np.tile(index, S * K)
            cols["value"] = block.ravel()
            tables[probe.name] = pd.DataFrame(cols)
        return tables
