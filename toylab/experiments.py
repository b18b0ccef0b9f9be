"""From configs to tidy tables: check everything, run what is missing, batched, and read it back.

`run_configs` first checks what can be checked before computing (values, the device, that the
output folder is writable, the memory each batch needs) and warns about options that cannot
take effect; then it skips configs whose result verifies (`store.Index.find`; a broken batch or run
folder is named in one line and recomputed), groups the rest by `RunConfig.group_key`, runs each
group as one batched program and publishes it as one batch (`store.write_batch`).
"""
from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import engine, optim, problem_checks, problems, schedules, store
from .config import RunConfig
from .options import Failure, UserError, check_sweep_size, warn
from .progress import Progress, line



def prepare(configs: list[RunConfig], root: Path, device: str = "auto") -> list[RunConfig]:
    """Resolve and check the configs before anything runs: their values, the device, that
    `root` is writable; warn once about each option that cannot take effect."""
    check_sweep_size(len(configs))
    if len(configs) > 10_000 and not sys.stderr.isatty():
        line(f"checking {len(configs):,} configs")
    configs = [c.resolve() for c in configs]
    engine.resolve_device(device)
    store.check_writable(root)
    for message in dict.fromkeys(m for c in _distinct(configs) for m in ineffective_options(c)):
        warn(message)
    return configs


def run_configs(configs: list[RunConfig], root: Path, device: str = "auto", force: bool = False,
                progress: bool = False) -> list[RunConfig]:
    """Run every config not yet finished under `root`; return the resolved configs.
    `progress`: bars on a terminal, lines on long work otherwise (`toylab/progress.py`)."""
    configs = prepare(configs, root, device)
    store.sweep_partials(root)  # partial builds of killed writers
    todo = _todo({c.hash(): c for c in configs}, root, force)
    groups = defaultdict(list)
    for c in todo.values():
        groups[c.group_key()].append(c)
    groups = list(groups.values())
    for group in groups:
        check_memory(group, device)
        problem_checks.check(group[0].problem, group[0].problem_options, getattr(torch, group[0].dtype),
                             engine.resolve_device(device))
    bars = progress and sys.stderr.isatty()
    report = Progress([(len(g), g[0].steps) for g in groups], lines=progress and not bars)
    report.announce(f"running {len(todo):,} configs in {len(groups)} batches under {root}")
    for i, group in enumerate(tqdm(groups, disable=not bars or len(groups) < 2, desc="batches")):
        if i and not force:  # another shard or machine may have finished some meanwhile
            index = store.Index(root)
            group = [c for c in group if index.find(c.hash()) is None]
        if group:
            report.batch(i, len(group))
            _run_group(group, root, device, force, bars, report.on_steps if progress else None)
        report.batch_done(i, len(group))
    return configs


def _todo(configs: dict[str, RunConfig], root: Path, force: bool) -> dict[str, RunConfig]:
    """The configs to compute: all with `force`, else those without a verified result; when
    there are any, each broken batch under `root` and run folder of theirs is named in one line
    (their runs are recomputed)."""
    if force:
        return configs
    index = store.Index(root)
    todo = {h: c for h, c in configs.items() if index.find(h) is None}
    for path, problem in ({**index.broken(), **index.problems(todo)} if todo else {}).items():
        what = "batch" if path.parent.name == store.BATCHES else "run folder"
        warn(f"{what} {path}: {problem}; recomputing {'its runs' if what == 'batch' else 'it'}")
    return todo


def _run_group(group: list[RunConfig], root: Path, device: str, force: bool, progress: bool,
               on_steps=None) -> None:
    start = time.perf_counter()
    try:
        result = engine.run_batch(group, device=device, progress=progress, on_steps=on_steps)
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, (MemoryError, torch.OutOfMemoryError)) and "can't allocate memory" not in str(e):
            raise
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise Failure(f"out of memory running {len(group)} configs of {group[0].problem} "
                      f"({_options(group[0])}): {first}") from None
    seconds = (time.perf_counter() - start) / len(group)
    status = {"seconds": seconds, "batched_with": len(group), "device": device}
    store.write_batch(root, group, {"metrics": result.metrics, **result.tables}, result.diverged_step, status,
                      force=force)


def _options(config: RunConfig) -> str:
    """The problem options that differ from their defaults."""
    declared = problems.get(config.problem).options()
    return " ".join(f"{k}={v}" for k, v in config.problem_options.items() if v != declared[k].default) or "defaults"


def _distinct(configs: list[RunConfig]) -> list[RunConfig]:
    """One config per problem, problem options, optimizer, hyperparameters and probes."""
    seen = {}
    for c in configs:
        seen.setdefault(repr((c.problem, c.problem_options, c.optimizer, c.hparams, c.probes)), c)
    return list(seen.values())


# ----- what a batch needs, and what cannot take effect -------------------------------------------------
def _structure(config: RunConfig) -> tuple[dict, float, dict]:
    """Parameter shapes (one config), optimizer-state elements per parameter element, and the
    state's layout, from `init` on copies of the parameters cut to at most 3 per axis."""
    key = config.group_key()
    if key not in _STRUCTURES:
        _STRUCTURES[key] = _measure_structure(config)
    return _STRUCTURES[key]


_STRUCTURES: dict[str, tuple[dict, float, dict]] = {}


def _measure_structure(config: RunConfig) -> tuple[dict, float, dict]:
    problem = problems.build(config.problem, config.problem_options)
    shapes = problem.param_shapes()
    opt = optim.get(config.optimizer)
    params = {k: torch.zeros(1, *[min(n, 3) for n in shape]) for k, shape in shapes.items()}
    try:
        hp = optim.hyperparameters(opt, [config.hparams], torch.float32, "cpu", normalized=problem.normalized_params())
        state = opt.init(params, hp)
    except Exception:  # an optimizer whose init needs more than this: assume two moments
        return shapes, 2.0, {}
    per_element = _numel(state) / max(_numel(params), 1)
    return shapes, per_element, state


def _numel(tree) -> int:
    if isinstance(tree, torch.Tensor):
        return tree.numel()
    if isinstance(tree, dict):
        return sum(_numel(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_numel(v) for v in tree)
    return 0


def check_memory(group: list[RunConfig], device: str) -> None:
    """Bytes ≈ K configs × P parameters × (4 + S) copies × itemsize, with 4 copies for θ, θ
    before the step, the gradient and the update, and S optimizer-state elements per parameter
    element; a `UserError` with the numbers when it exceeds the memory available on the device."""
    shapes, state, _ = _structure(group[0])
    params = sum(math.prod(s) for s in shapes.values())
    itemsize = torch.finfo(getattr(torch, group[0].dtype)).bits // 8
    copies = 4 + state
    need = len(group) * params * copies * itemsize
    free = available_memory(engine.resolve_device(device))
    if free is not None and need > free:
        raise UserError(
            f"a batch of {len(group):,} configs of {group[0].problem} ({_options(group[0])}) needs about "
            f"{need / 2**30:,.1f} GiB ({len(group):,} configs × {params:,} parameters × {copies:g} copies × "
            f"{itemsize} bytes), more than the {free / 2**30:,.1f} GiB available; use fewer configs or smaller options")


def available_memory(device: torch.device) -> int | None:
    """Free bytes on the device: CUDA's free memory, or MemAvailable of /proc/meminfo."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def ineffective_options(config: RunConfig) -> list[str]:
    """Warnings for options of a resolved config that cannot change its run."""
    out = []
    shapes, _, state = _structure(config)
    opt = optim.get(config.optimizer)
    if (config.optimizer == "muon" and config.hparams["lr"] != opt.hparams["lr"].default
            and not any(len(s) == 2 for s in shapes.values())):
        out.append(f"muon's lr acts on matrix parameters only and {config.problem} has none "
                   f"({', '.join(f'{k} {list(s)}' for k, s in shapes.items())}): lr={config.hparams['lr']:g} "
                   f"has no effect (its parameters follow adamw_lr)")
    if "moments" in config.probes and (not state.get("exp_avg_sq") or config.hparams.get("nested_ema")):
        why = "with nested_ema" if config.hparams.get("nested_ema") else "has no Adam moments here"
        out.append(f"--probe moments records Adam's moments only and {config.optimizer} {why}: "
                   f"its moments table will be empty")
    if "orthogonality" in config.probes and (config.optimizer != "muon" or not any(len(s) == 2 for s in shapes.values())):
        why = "has no matrix parameter" if config.optimizer == "muon" else f"is {config.optimizer}"
        out.append(f"--probe orthogonality measures Muon's orthogonalizer on matrix parameters only and this run "
                   f"{why}: it writes no orthogonality table")
    for name, spec in config.schedules.items():
        params = dict(schedules.parse(spec).params)
        warmup = params.get("warmup" if "warmup" in params else "steps", 0)
        if isinstance(warmup, int) and warmup >= config.steps:
            out.append(f"--schedule {name}={spec}: the warmup of {warmup:,} steps is not shorter than the run "
                       f"(--steps {config.steps:,}), so {name} never reaches its base value; allowed: warmup < steps")
    return out


# ----- reading back -----------------------------------------------------------------------------------
def summary(root: Path, configs: list[RunConfig]) -> pd.DataFrame:
    """One row per distinct config, in order: the last recorded value of every metric (NaN
    once diverged) and divergence. A run whose metrics cannot be read still has its row (NaN),
    and `frame.attrs["missing"]` lists those runs' addresses."""
    by_hash = {c.hash(): c for c in configs}
    runs = list(by_hash)
    found = store.runs_of(root, runs)
    metrics = store.with_run_columns(store.read(found), found)
    if metrics.empty:
        metrics = pd.DataFrame(columns=["run", "label", "seed", "diverged_step", "step", "steps", "metric", "value"])
    last = metrics[metrics.step == metrics.steps]
    wide = last.pivot(index="run", columns="metric", values="value").reindex(runs)
    info = metrics.drop_duplicates("run").set_index("run")[["label", "seed", "diverged_step"]].reindex(runs)
    read = set(metrics["run"])
    missing = [run for run in runs if run not in read]
    for run in missing:
        info.loc[run, ["label", "seed"]] = by_hash[run].label(), by_hash[run].seed
    table = info.join(wide).reset_index(drop=True)
    table.attrs["missing"] = [str(Path(root) / run) for run in missing]
    return table
