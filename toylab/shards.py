"""Sweeps beyond one process: deterministic shards of a config list, and a submitit launcher.

`select(configs, index, count)` keeps the configs of shard `index` of `count`. The split is a
function of the set of configs alone (never of their order or of the machine), so every shard
can be computed independently and all of them write their run folders into the same root,
where they read back as one result set (run folders are named by config hash):

* at least `count` batch groups (`RunConfig.group_key`): whole groups are dealt out, largest
  first, each to the shard with the fewest configs so far (ties by group hash), so no batch is
  split and the shards stay balanced;
* fewer groups than shards: the configs, sorted by hash, are dealt out in turn (the k-th to
  shard k mod count), so shards differ in size by at most one and each still runs its part of
  a group as one batch.

`launch` hands the shards to a submitit executor (Slurm when there is one, local processes
otherwise) and waits for them.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

from . import runtime
from .config import RunConfig
from .experiments import run_configs
from .options import Failure, UserError


def parse(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    index, sep, count = text.partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        index = count = -1
    if not sep or count < 1 or not 0 <= index < count:
        raise UserError(f"--shard {text!r} is not INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4")
    return index, count


def select(configs: list[RunConfig], index: int, count: int) -> list[RunConfig]:
    """The configs of shard `index` of `count` (configs must be resolved)."""
    groups = defaultdict(list)
    for c in configs:
        groups[c.group_key()].append(c)
    if len(groups) < count:
        hashes = sorted({c.hash() for c in configs})
        mine = set(hashes[index::count])
        return [c for c in configs if c.hash() in mine]
    load = [0] * count
    mine = set()
    order = sorted(groups, key=lambda key: (-len({c.hash() for c in groups[key]}), _digest(key)))
    for key in order:
        target = min(range(count), key=lambda s: (load[s], s))
        load[target] += len({c.hash() for c in groups[key]})
        if target == index:
            mine.add(key)
    return [c for c in configs if c.group_key() in mine]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_shard(configs: list[RunConfig], root: Path, index: int, count: int, device: str, force: bool) -> int:
    """Run shard `index` of `count`; returns how many configs it holds (a submitit job)."""
    runtime.configure()
    mine = select(configs, index, count)
    run_configs(mine, root, device=device, force=force)
    return len(mine)


def launch(configs: list[RunConfig], root: Path, count: int, device: str = "auto", force: bool = False,
           executor=None) -> list[int]:
    """Run `count` shards as submitit jobs (default: `submitit.AutoExecutor` with its logs under
    `root/.submitit`) and wait for all of them; returns the configs per shard."""
    import submitit

    if executor is None:
        executor = submitit.AutoExecutor(folder=Path(root) / ".submitit")
    configs = [c.resolve() for c in configs]
    jobs = [executor.submit(run_shard, configs, Path(root), i, count, device, force) for i in range(count)]
    sizes, failed = [], []
    try:
        for i, job in enumerate(jobs):
            try:
                sizes.append(job.result())
            except Exception as e:  # submitit's FailedJobError & co. carry the job's whole log
                failed.append(f"shard {i}/{count} ({_last_line(e)})")
    except KeyboardInterrupt:
        for job in jobs:
            job.cancel(check=False)
        raise
    if failed:
        raise Failure(f"{len(failed)} of {count} shards failed: {'; '.join(failed)}; logs in {executor.folder}")
    return sizes


def _last_line(error: Exception) -> str:
    """The line of a job's error that says what went wrong (its log's last non-empty line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
