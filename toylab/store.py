"""Run folders: one per config hash, written so that a half-written run is never trusted.

    <root>/<hash>/config.json      everything needed to re-run (RunConfig.to_dict)
    <root>/<hash>/metrics.parquet  tidy: step, metric, value
    <root>/<hash>/<table>.parquet  probe tables, tidy
    <root>/<hash>/status.json      written last: finished, diverged_step, seconds

A run is built in `<root>/.<hash>.partial/` and renamed into place only when complete, so an
interrupted run leaves nothing under its hash and is recomputed next time.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from .config import RunConfig
from .options import format_value


def run_dir(root: Path, config: RunConfig) -> Path:
    return Path(root) / config.hash()


def is_finished(path: Path) -> bool:
    return (Path(path) / "status.json").exists()


def write_run(path: Path, config: RunConfig, tables: dict[str, pd.DataFrame], status: dict) -> None:
    path = Path(path)
    partial = path.parent / f".{path.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    for name, frame in tables.items():
        frame.reset_index(drop=True).to_parquet(partial / f"{name}.parquet")
    (partial / "status.json").write_text(json.dumps(status, indent=2))
    if path.exists():
        shutil.rmtree(path)
    os.replace(partial, path)


def read_status(path: Path) -> dict:
    return json.loads((Path(path) / "status.json").read_text())


def read_config(path: Path) -> RunConfig:
    return RunConfig.from_dict(json.loads((Path(path) / "config.json").read_text()))


def config_columns(config: RunConfig) -> dict:
    """The config flattened to scalar columns: hyperparameters and problem options by name."""
    cols = {"run": config.hash(), "problem": config.problem, "optimizer": config.optimizer,
            "seed": config.seed, "steps": config.steps, "label": config.label()}
    for name, value in config.problem_options.items():
        cols[name if name not in config.hparams else f"problem_{name}"] = _scalar(value)
    cols.update({name: _scalar(v) for name, v in config.hparams.items()})
    cols.update({f"{name}_schedule": spec for name, spec in config.schedules.items()})
    return cols


def _scalar(value):
    return format_value(value) if isinstance(value, tuple) else value


def load_table(root: Path, configs: list[RunConfig], table: str = "metrics") -> pd.DataFrame:
    """Concatenate one table over finished runs, with each run's config as columns."""
    frames, columns = [], []
    for config in configs:
        path = run_dir(root, config)
        if not (path / f"{table}.parquet").exists():
            continue
        frames.append(pd.read_parquet(path / f"{table}.parquet"))
        columns.append({**config_columns(config), "diverged_step": read_status(path)["diverged_step"]})
    if not frames:
        return pd.DataFrame()
    rows = pd.DataFrame(columns).loc[[i for i, f in enumerate(frames) for _ in range(len(f))]]
    out = pd.concat([pd.concat(frames, ignore_index=True), rows.reset_index(drop=True)], axis=1)
    out["diverged"] = out["diverged_step"].notna()
    return out
