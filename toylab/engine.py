"""The batched step loop: K configurations advance as one tensor program.

Every parameter carries a leading config axis `[K, *shape]` and every dynamic hyperparameter is
a `[K]` tensor (a `[steps+1, K]` table when scheduled). Configs that share a seed share the
initial point, the data and the batch stream (common random numbers). One step is

    batch  = sample per distinct seed: [S, ...]
    loss, g = problem.loss_and_grad_per_seed(params, batch, K/S)   (configs run seed-sorted), or
              problem.loss_and_grad(params, batch gathered to [K, ...]), or vmap(grad(loss)) over K
    params', state, aux = optimizer.update(g, state, params, hp_t, t)
    alive &= finite(loss) & finite(Σ params');  params = where(alive, params', params)
    probes(context of step t)          at t = 1, every `probe_every` steps and the last step

so a config that diverges is frozen at its last finite point and marked with the step it
diverged at, while the others go on. The loop never synchronises with the device: metrics
and probes are kept as device tensors and moved to the host once, at the end.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.func import grad_and_value, vmap
from tqdm.auto import tqdm

from . import optim, problems, probes, schedules
from .config import RunConfig
from .options import UserError
from .probes.record import Recorder


@dataclass
class BatchResult:
    metrics: pd.DataFrame  # tidy: config, step, metric, value
    diverged_step: list[int | None]  # per config: the step whose update was not finite
    params: dict[str, Tensor]  # final parameters [K, *shape]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # probe tables, tidy


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda requested but no CUDA device is available; use --device cpu or auto")
    return torch.device(device)


def seed_generator(seed: int, stream: str, device: torch.device) -> torch.Generator:
    """An independent generator per (seed, stream), the same for any sweep the seed is part of."""
    digest = hashlib.sha256(f"{seed}/{stream}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def gradient_fn(problem: problems.Problem):
    """(params[K], batch[K]) -> (loss[K], grads[K]): the problem's fast path or autograd."""
    if problem.loss_and_grad is not None:
        return problem.loss_and_grad
    batched = vmap(grad_and_value(problem.loss))

    def generic(params, batch):
        grads, loss = batched(params, batch)
        return loss, grads

    return generic


def hyperparameter_tables(configs: list[RunConfig], opt, dtype, device) -> tuple[dict, dict[str, Tensor]]:
    """Constant hyperparameters as `[K]` tensors, scheduled ones as `[steps+1, K]` tables."""
    hp = optim.hp_tensors(opt, [c.hparams for c in configs], dtype, device)
    tables = {}
    for name in sorted({name for c in configs for name in c.schedules}):
        columns = [schedules.parse(c.schedules.get(name, "constant")).values(c.steps, float(c.hparams[name]))
                   for c in configs]
        tables[name] = torch.stack(columns, dim=1).to(dtype=dtype, device=device)
    hp["lr_max"] = tables["lr"].amax(0) if "lr" in tables else hp["lr"]
    return hp, tables


def run_batch(configs: list[RunConfig], device: str = "cpu", progress: bool = False) -> BatchResult:
    """Run configs that share a `group_key` as one batched program; results in the given order.

    Inside, the configs of one seed are contiguous, so a problem's per-seed fast path can use
    its seed's batch for the whole group without copying it per config."""
    order = np.argsort([c.seed for c in configs], kind="stable")
    result = _run_seed_sorted([configs[i] for i in order], device, progress)
    inverse = np.argsort(order)
    for frame in [result.metrics, *result.tables.values()]:
        frame["config"] = order[frame["config"].to_numpy()]
    return BatchResult(result.metrics, [result.diverged_step[j] for j in inverse],
                       {k: p[torch.from_numpy(inverse)] for k, p in result.params.items()}, result.tables)


def _run_seed_sorted(configs: list[RunConfig], device: str, progress: bool) -> BatchResult:
    first = configs[0]
    assert all(c.group_key() == first.group_key() for c in configs), "configs must share a group key"
    dev = resolve_device(device)
    dtype = getattr(torch, first.dtype)
    problem = problems.build(first.problem, first.problem_options, dtype=dtype, device=dev)
    opt = optim.get(first.optimizer)
    for name, shape in problem.param_shapes().items():
        message = opt.check_shape(name, shape)
        if message:
            raise UserError(message)

    seeds = sorted({c.seed for c in configs})
    seed_index = torch.tensor([seeds.index(c.seed) for c in configs], device=dev)
    groups = [(seed_index == i).nonzero().squeeze(1) for i in range(len(seeds))]
    sizes = {len(g) for g in groups}
    per_seed = problem.loss_and_grad_per_seed is not None and len(sizes) == 1
    data = [problem.make_data(seed_generator(s, "data", dev)) for s in seeds]
    streams = [seed_generator(s, "stream", dev) for s in seeds]
    inits = [problem.init_params(seed_generator(s, "init", dev)) for s in seeds]
    params = {k: torch.stack([p[k] for p in inits])[seed_index] for k in inits[0]}

    hp, tables = hyperparameter_tables(configs, opt, dtype, dev)
    hp["normalized"] = problem.normalized_params()
    state = opt.init(params, hp)
    loss_and_grad = gradient_fn(problem)
    K = len(configs)
    alive = torch.ones(K, dtype=torch.bool, device=dev)
    diverged_at = torch.zeros(K, dtype=torch.long, device=dev)
    batch_loss = torch.full((K,), float("nan"), dtype=dtype, device=dev)
    records: list[tuple[int, list[str], Tensor]] = []
    recorder = Recorder(probes.get(first.probes), K)

    def record(step: int):
        values = {"batch_loss": batch_loss}
        for idx, d in zip(groups, data):
            for name, v in problem.metrics({k: p[idx] for k, p in params.items()}, d).items():
                values.setdefault(name, torch.empty(K, dtype=dtype, device=dev))[idx] = v.to(dtype)
        stacked = torch.stack(list(values.values()))
        records.append((step, list(values), torch.where(alive, stacked, torch.nan)))

    record(0)
    for t in tqdm(range(1, first.steps + 1), disable=not progress, leave=False, desc=first.optimizer):
        batches = [problem.sample(d, g, t) for d, g in zip(data, streams)]
        by_seed = {k: torch.stack([b[k] for b in batches]) for k in batches[0]}  # [S, ...]
        probing = recorder.probes and (t == 1 or t % first.probe_every == 0 or t == first.steps)
        batch = _gather(by_seed, seed_index) if probing or not per_seed else None  # [K, ...]
        if per_seed:
            loss, grads = problem.loss_and_grad_per_seed(params, by_seed, len(groups[0]))
        else:
            loss, grads = loss_and_grad(params, batch)
        hp_t = {**hp, **{name: table[t] for name, table in tables.items()}}
        new_params, state, aux = opt.update(grads, state, params, hp_t, t)
        ok = torch.isfinite(loss)
        for p in new_params.values():  # a sum is finite iff every term is (or it overflows: diverged too)
            ok &= torch.isfinite(p.flatten(1).sum(1))
        diverged_at = torch.where(alive & ~ok, t, diverged_at)
        alive = alive & ok
        params_before = params
        params = {k: torch.where(optim.bcast(alive, p), p, params[k]) for k, p in new_params.items()}
        batch_loss = loss.detach()
        if probing:
            recorder.record(probes.Context(problem, first.optimizer, t, params_before, params, grads, batch,
                                           state, aux, hp_t, data, groups), alive)
        if t % first.metric_every == 0 or t == first.steps:
            record(t)

    names = records[-1][1]
    values = torch.stack([v for _, _, v in records]).cpu().numpy()  # [records, metrics, K]
    R, M = values.shape[:2]
    metrics = pd.DataFrame({
        "config": np.tile(np.arange(K), R * M),
        "step": np.repeat([step for step, _, _ in records], M * K),
        "metric": np.tile(np.repeat(names, K), R),
        "value": values.ravel(),
    })
    diverged = [int(s) or None for s in diverged_at.cpu().tolist()]
    return BatchResult(metrics, diverged, {k: p.cpu() for k, p in params.items()}, recorder.frames())


def _gather(by_seed: dict[str, Tensor], seed_index: Tensor) -> dict[str, Tensor]:
    """Give each config its seed's batch: [S, ...] -> [K, ...] (a view when there is one seed)."""
    if len(next(iter(by_seed.values()))) == 1:
        return {k: v.expand(len(seed_index), *v.shape[1:]) for k, v in by_seed.items()}
    return {k: v[seed_index] for k, v in by_seed.items()}
