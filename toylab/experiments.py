"""From configs to tidy tables: run what is missing, batched, and read everything back.

`run_configs` resolves the configs, skips those whose run folder is finished (same config
hash), groups the rest by `RunConfig.group_key` and runs each group as one batched program.
"""
from __future__ import annotations

import itertools
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from . import engine, store
from .config import RunConfig


def grid(base: RunConfig, axes: dict[str, list]) -> list[RunConfig]:
    """The product of `axes` over `base`. Axis names: a RunConfig field, `seed`, or
    `hparams.<name>` / `problem_options.<name>` / `schedules.<name>`."""
    configs = []
    names = list(axes)
    for values in itertools.product(*(axes[n] for n in names)):
        fields = {"problem_options": dict(base.problem_options), "hparams": dict(base.hparams),
                  "schedules": dict(base.schedules)}
        top = {}
        for name, value in zip(names, values):
            head, _, tail = name.partition(".")
            if tail:
                fields[head][tail] = value
            else:
                top[name] = value
        configs.append(RunConfig(**{**base.__dict__, **fields, **top}))
    return configs


def run_configs(configs: list[RunConfig], root: Path, device: str = "auto", force: bool = False,
                progress: bool = False) -> list[RunConfig]:
    """Run every config not yet finished under `root`; return the resolved configs."""
    configs = [c.resolve() for c in configs]
    todo = {}
    for c in configs:
        if force or not store.is_finished(store.run_dir(root, c)):
            todo.setdefault(c.hash(), c)
    groups = defaultdict(list)
    for c in todo.values():
        groups[c.group_key()].append(c)
    for group in tqdm(list(groups.values()), disable=not progress or len(groups) < 2, desc="batches"):
        start = time.perf_counter()
        result = engine.run_batch(group, device=device, progress=progress)
        seconds = (time.perf_counter() - start) / len(group)
        per_config = {name: dict(tuple(frame.groupby("config")))
                      for name, frame in {"metrics": result.metrics, **result.tables}.items()}
        for i, c in enumerate(group):
            tables = {name: parts[i].drop(columns="config") for name, parts in per_config.items() if i in parts}
            status = {"status": "finished", "diverged_step": result.diverged_step[i],
                      "seconds": seconds, "batched_with": len(group), "device": device}
            store.write_run(store.run_dir(root, c), c, tables, status)
    return configs


def summary(root: Path, configs: list[RunConfig]) -> pd.DataFrame:
    """One row per config: the last recorded value of every metric, and divergence."""
    metrics = store.load_table(root, configs)
    if metrics.empty:
        return metrics
    last = metrics[metrics.step == metrics.steps]  # NaN for a diverged run
    wide = last.pivot_table(index="run", columns="metric", values="value")
    info = metrics.drop_duplicates("run").set_index("run")[["label", "seed", "diverged_step"]]
    return info.join(wide).reset_index(drop=True)
