"""The batched step loop: K configurations advance as one tensor program.

Every parameter carries a leading config axis `[K, *shape]`; hyperparameters become per-step
coefficient tables `[steps, K]` (float64, cast; `optim.base.InPlace`). Configs that share a
seed share the initial point, the data and the batch stream (common random numbers). Data are
drawn `CHUNK` steps at a time (`Problem.sample_many`). One step is

    loss, g = problem.loss_and_grad_per_seed(θ, batch[S], configs per seed, work)  (configs run
              seed-sorted), or problem.loss_and_grad(θ, batch gathered to [K, ...]), or
              vmap(grad(loss)) over K (`batched.vmap`: every product a bmm over the configs)
    θ' = optimizer step from θ into the other buffer (state in place; the direction only when probing)
    ok = finite(loss) & finite(Σ θ') & loss ≤ blowup · loss₁        (per config, `[K]`)
    a config whose ok turns false on step t: diverged at t, its θ_{t−1} kept (read from the
                                                                      other buffer, only then)
    probes(context of step t)      at t = 1, every `probe_every` steps and the last step

so a config that diverges is frozen at its last finite point and marked with the step it
diverged at, while the others go on (its rows in the buffers carry on as scratch; its metrics
and probe values are NaN from then on). `blowup` (RunConfig, default 1e6) also marks as diverged
a loss that grows past blowup × the first batch loss, for problems whose loss is ≥ 0; 0 turns
that off. On the CPU the freeze copies rows only on a step where a config dies; on CUDA it is one
`where` per step, so that the loop never synchronises with the device: metrics and probes stay
device tensors and move to the host once, at the end.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.func import grad_and_value
from tqdm.auto import tqdm

from . import batched, optim, problems, probes, schedules
from .config import RunConfig
from .options import UserError
from .optim.base import memory_order
from .probes.record import Recorder


@dataclass
class BatchResult:
    metrics: pd.DataFrame  # tidy: config, step, metric, value
    diverged_step: list[int | None]  # per config: the step whose update was not finite
    params: dict[str, Tensor]  # final parameters [K, *shape]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # probe tables, tidy
    fused: bool = False  # whether the steps after the first ran the fused kernels (optim/fused.py)


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
    """(params[K], batch[K]) -> (loss[K], grads[K]): the problem's fast path or autograd, each
    config's products a bmm of its own (`toylab.batched`), so its numbers do not depend on K."""
    if problem.loss_and_grad is not None:
        return problem.loss_and_grad
    batched_grad = batched.vmap(grad_and_value(problem.loss))

    def generic(params, batch):
        grads, loss = batched_grad(params, batch)
        return loss, grads

    return generic


def hyperparameter_tables(configs: list[RunConfig], opt, device,
                          normalized=()) -> tuple[optim.Hyperparameters, dict[str, Tensor]]:
    """Hyperparameters in float64: constant ones as `[K]` tensors, scheduled ones as
    `[steps+1, K]` tables; `hp.lr_max` is the peak of each config's lr."""
    tables = {}
    for name in sorted({name for c in configs for name in c.schedules}):
        columns = [schedules.parse(c.schedules.get(name, "constant")).values(c.steps, float(c.hparams[name]))
                   for c in configs]
        tables[name] = torch.stack(columns, dim=1).to(device=device)
    hp = optim.hyperparameters(opt, [c.hparams for c in configs], torch.float64, device,
                               lr_max=tables["lr"].amax(0) if "lr" in tables else None, normalized=normalized)
    return hp, tables


CHUNK = 256  # steps of data drawn and coefficients tabled at a time
BLOCK_BYTES = 2**22  # parameter bytes of the configs stepped together (their state and gradient: ~4× more)


def run_batch(configs: list[RunConfig], device: str = "cpu", progress: bool = False,
              on_steps: Callable[[int], None] | None = None) -> BatchResult:
    """Run configs that share a `group_key` as one batched program; results in the given order.
    `on_steps(n)` is called after every chunk of n steps (progress reports; one call per chunk).

    Inside, the configs of one seed are contiguous, so a problem's per-seed fast path can use
    its seed's batch for the whole group without copying it per config. On the CPU a large batch
    steps in blocks of configs whose parameters fill about `BLOCK_BYTES`, one block after the
    other (the gradient's products, the update and the finiteness check of a block while it is in
    cache): the configs run block by block, each block seed by seed (`_order`). On CUDA the whole
    batch is one block: a GPU has no such cache to fit, and each block would cost its own kernel
    launches (measured on an H200: 65 blocks at K = 65,536 made the step 8× slower). No value
    depends on the blocks: every per-config quantity is computed from the config's own rows."""
    order, per_block = _order(configs, cache_blocks=resolve_device(device).type == "cpu")
    result = _run_ordered([configs[i] for i in order], device, progress, per_block, on_steps)
    inverse = np.argsort(order)
    for frame in [result.metrics, *result.tables.values()]:
        frame["config"] = order[frame["config"].to_numpy()]
    return BatchResult(result.metrics, [result.diverged_step[j] for j in inverse],
                       {k: p[torch.from_numpy(inverse)] for k, p in result.params.items()}, result.tables,
                       result.fused)


def _order(configs: list[RunConfig], cache_blocks: bool = True) -> tuple[np.ndarray, int | None]:
    """The order the configs run in and the number of each seed's configs in one block: seed-sorted,
    or, with `cache_blocks` where every seed has the same n configs and more than fit a block, blocks
    of nb configs of each seed in turn (block j holds configs j·nb … of every seed); None: one block."""
    seeds = np.array([c.seed for c in configs])
    order = np.argsort(seeds, kind="stable")
    if not cache_blocks:
        return order, None
    counts = np.unique(seeds, return_counts=True)[1]
    first = configs[0]
    problem = problems.build(first.problem, first.problem_options)
    numel = sum(math.prod(shape) for shape in problem.param_shapes().values())
    fit = max(1, BLOCK_BYTES // (numel * getattr(torch, first.dtype).itemsize))  # configs per block
    n = int(counts[0])
    per_block = -(-n // -(-n // max(1, fit // len(counts))))  # balanced: ⌈n / number of blocks⌉
    if problem.loss_and_grad_per_seed is None or len(set(counts.tolist())) > 1 or n <= per_block:
        return order, None
    rank = np.empty(len(configs), dtype=np.int64)  # each config's position within its seed
    rank[order] = np.arange(len(configs)) % n
    return np.lexsort((seeds, rank // per_block)), per_block


def _run_ordered(configs: list[RunConfig], device: str, progress: bool, per_block: int | None,
                 on_steps: Callable[[int], None] | None = None) -> BatchResult:
    first = configs[0]
    key = first.group_key()
    assert all(c.group_key() == key for c in configs), "configs must share a group key"
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
    per_seed = problem.loss_and_grad_per_seed is not None
    K, S = len(configs), len(seeds)
    # blocks (a, b, configs of each seed): each block's configs are a:b, seed by seed
    n = len(groups[0])
    blocks = [(S * j, S * min(j + per_block, n), [min(per_block, n - j)] * S) for j in range(0, n, per_block)] \
        if per_block else [(0, K, [len(g) for g in groups])]
    # each seed's configs within each block: slices a:b with that seed's data (for the metrics)
    spans = [(a + s * m[s], a + (s + 1) * m[s], s) for a, _, m in blocks for s in range(S)] if per_block else \
        [(a, b, s) for s, (a, b) in enumerate(_spans([len(g) for g in groups]))]
    # A problem file may build tensors with plain torch.ones(...): params take the run's device
    # and dtype, data and batches its device (.to is a no-op where they already are).
    data = [_to(problem.make_data(seed_generator(s, "data", dev)), dev) for s in seeds]
    streams = [seed_generator(s, "stream", dev) for s in seeds]
    inits = [_to(problem.init_params(seed_generator(s, "init", dev)), dev, dtype) for s in seeds]
    params = {k: _allocate(torch.stack([p[k] for p in inits])[seed_index], problem.param_layout().get(k))
              for k in inits[0]}
    spare = {k: torch.empty_like(p) for k, p in params.items()}  # the other buffer: θ_t is written there
    frozen = {k: torch.empty_like(p) for k, p in params.items()}  # θ at the step before a config died (its rows only)

    hp, tables = hyperparameter_tables(configs, opt, dev, problem.normalized_params())
    state = opt.init(params, hp)
    steppers = [optim.InPlace(opt, _rows(params, a, b), hp.rows(a, b), {k: v[:, a:b] for k, v in tables.items()},
                              fused=first.compile, state={s: _rows(v, a, b) for s, v in state.items()})
                for a, b, _ in blocks]
    loss_and_grad = gradient_fn(problem)
    works: list[dict[str, Tensor]] = [{} for _ in blocks]  # the per-seed fast path's buffers, kept between steps
    alive = torch.ones(K, dtype=torch.bool, device=dev)
    diverged_at = torch.zeros(K, dtype=torch.long, device=dev)
    blowup = torch.tensor([float(c.blowup) for c in configs], dtype=dtype, device=dev)
    threshold = torch.full((K,), float("inf"), dtype=dtype, device=dev)
    batch_loss = torch.full((K,), float("nan"), dtype=dtype, device=dev)
    recorder = Recorder(probes.get(first.probes), K)
    names = ["batch_loss"]
    record_steps: list[int] = []  # the steps recorded, in the order of the buffers' rows
    buffers: list[Tensor] = []  # per chunk: [records, metrics, K], allocated as the chunk starts
    rows: dict[int, Tensor] = {}  # the current chunk's step → its row

    def allocate(record_at: list[int]) -> None:
        """One buffer for the records of `record_at` (a chunk's, so memory follows the work done)."""
        if record_at:
            buffers.append(torch.empty(len(record_at), len(names), K, dtype=dtype, device=dev))
            record_steps.extend(record_at)
            rows.clear()
            rows.update(zip(record_at, buffers[-1].unbind(0)))

    def record(step: int):
        """Metrics of each seed's configs (a slice of the batch, no copy) into the row of `step`."""
        per_seed = [problem.metrics(_rows(params, a, b), data[s]) for a, b, s in spans]
        if not buffers:  # step 0: the metrics' names are known now
            names.extend(per_seed[0])
            allocate([step])
        row = rows[step]
        row[0] = batch_loss
        for (a, b, _), metrics in zip(spans, per_seed):
            for j, v in enumerate(metrics.values(), start=1):
                row[j, a:b] = v

    record(0)
    bar = tqdm(total=first.steps, disable=not progress, leave=False, desc=first.optimizer)
    for start in range(1, first.steps + 1, CHUNK):
        steps = range(start, min(start + CHUNK, first.steps + 1))
        chunk = [_to(problem.sample_many(d, g, steps), dev) for d, g in zip(data, streams)]
        chunk = {k: torch.stack([c[k] for c in chunk], dim=1).unbind(0) for k in chunk[0]}  # C × [S, ...]
        for stepper in steppers:
            stepper.prepare(steps[0], steps[-1])
        allocate([t for t in steps if t % first.metric_every == 0 or t == first.steps])
        for i, t in enumerate(steps):
            by_seed = {k: v[i] for k, v in chunk.items()}  # [S, ...]
            probing = recorder.probes and (t == 1 or t % first.probe_every == 0 or t == first.steps)
            batch = _gather(by_seed, seed_index) if probing or not per_seed else None  # [K, ...]
            parts = []  # per block: loss, gradients, direction, and loss + Σθ_t
            for (a, b, m), stepper, work in zip(blocks, steppers, works):
                here, there = _rows(params, a, b), _rows(spare, a, b)
                if per_seed:
                    loss, grads = problem.loss_and_grad_per_seed(here, by_seed, m, work)
                else:
                    loss, grads = loss_and_grad(here, _rows(batch, a, b))
                aux = stepper.step(here, there, grads, t, direction=probing)
                # loss + Σθ_t is finite iff every term is (or it overflows: diverged too), and
                # x − x ≠ 0 exactly for x = ±inf or NaN
                total = loss.clone()
                for p in there.values():
                    total += p.sum(tuple(range(1, p.dim())))
                parts.append((loss, grads, aux["direction"], total))
            loss, total = (_join([part[j] for part in parts]) for j in (0, 3))
            if probing:
                grads, aux = _join([part[1] for part in parts]), {"direction": _join([part[2] for part in parts])}
            if t == 1 and problem.nonnegative_loss:
                threshold = torch.where((loss > 0) & (blowup > 0), blowup * loss, threshold)
            dying = (total - total != 0).logical_or_(loss > threshold).logical_and_(alive)
            if dying.is_cuda or dying.any():  # on the CPU a host check is free: book-keep only on a death
                diverged_at = torch.where(dying, t, diverged_at)
                alive = alive & ~dying
                _freeze(frozen, params, dying)
            params, spare = spare, params  # θ_t becomes current; θ_{t−1} stays readable until the next step
            batch_loss = loss.detach()
            if probing:
                recorder.record(probes.Context(problem, first.optimizer, t, spare, params, grads, batch,
                                               state, aux, hp.replace(**{k: v[t] for k, v in tables.items()}), data,
                                               groups), alive)
            if t % first.metric_every == 0 or t == first.steps:
                record(t)
        bar.update(len(steps))
        if on_steps is not None:
            on_steps(len(steps))
    bar.close()

    # a config is NaN from the step it diverged at: 0 < diverged_at ≤ step
    steps_recorded = torch.tensor(record_steps, device=dev)[:, None]
    dead = (diverged_at > 0) & (diverged_at <= steps_recorded)  # [records, K]
    values = torch.cat(buffers).masked_fill_(dead[:, None, :], torch.nan).cpu().numpy()
    R, M = values.shape[:2]
    metrics = pd.DataFrame({
        "config": np.tile(np.arange(K), R * M),
        "step": np.repeat(record_steps, M * K),
        "metric": pd.Categorical.from_codes(np.tile(np.repeat(np.arange(M), K), R), names),  # stored dictionary-encoded
        "value": values.ravel(),
    })
    diverged = [int(s) or None for s in diverged_at.cpu().tolist()]
    final = {k: torch.where(optim.bcast(alive, p), p, frozen[k]).cpu() for k, p in params.items()}
    return BatchResult(metrics, diverged, final, recorder.frames(), steppers[0].fused is not None)


def _to(tensors: dict[str, Tensor], device: torch.device, dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    """`tensors` on `device` (and, where given, floating ones in `dtype`)."""
    return {k: v.to(device=device, dtype=dtype if dtype is not None and v.is_floating_point() else None)
            for k, v in tensors.items()}


def _allocate(value: Tensor, order: tuple[int, ...] | None) -> Tensor:
    """A copy of `value` `[K, *shape]` whose dims lie in memory in `order` (after the config axis)."""
    if order is None:
        return value.contiguous()
    perm = (0, *(i + 1 for i in order))
    return value.permute(perm).contiguous().permute(tuple(np.argsort(perm)))


def _freeze(frozen: dict[str, Tensor], before: dict[str, Tensor], dying: Tensor) -> None:
    """Keep θ_{t−1} of the configs that die at step t: on the CPU (called only on such a step)
    the rows are copied; on CUDA one `where` per step avoids a synchronisation."""
    for k, p in before.items():
        if dying.is_cuda:
            frozen[k].copy_(torch.where(optim.bcast(dying, p), p, frozen[k]))
        else:
            frozen[k][dying] = p[dying]


def _rows(tensors: dict, a: int, b: int) -> dict:
    """Configs a:b of each tensor (a view); other values as they are."""
    return {k: v[a:b] if isinstance(v, Tensor) else v for k, v in tensors.items()}


def _join(parts: list):
    """Blocks' results as one: tensors `[K, ...]` or dicts of them (a copy only with several blocks),
    laid out in memory as the blocks are, so that reductions over them add in the same order."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], dict):
        return {k: _join([p[k] for p in parts]) for k in parts[0]}
    order = memory_order(parts[0])
    return torch.cat([p.permute(order) for p in parts]).permute(tuple(np.argsort(order)))


def _spans(sizes: list[int]) -> list[tuple[int, int]]:
    """(start, end) of consecutive groups of the given sizes."""
    ends = np.cumsum(sizes).tolist()
    return list(zip([0] + ends[:-1], ends))


def _gather(by_seed: dict[str, Tensor], seed_index: Tensor) -> dict[str, Tensor]:
    """Give each config its seed's batch: [S, ...] -> [K, ...] (a view when there is one seed)."""
    if not by_seed:  # a deterministic problem draws no batch
        return {}
    if len(next(iter(by_seed.values()))) == 1:
        return {k: v.expand(len(seed_index), *v.shape[1:]) for k, v in by_seed.items()}
    return {k: v[seed_index] for k, v in by_seed.items()}
