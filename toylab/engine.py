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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.func import grad_and_value
from tqdm.auto import tqdm

from . import batched, optim, problems, probes, schedules
from .config import RunConfig
from .options import UserError
from .probes.record import Recorder


@dataclass
class BatchResult:
    metrics: pd.DataFrame  # tidy: config, step, metric, value
    diverged_step: list[int | None]  # per config: the step whose update was not finite
    params: dict[str, Tensor]  # final parameters [K, *shape]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # probe tables, tidy
    compile_seconds: float = 0.0  # wall time of the first compiled steps (0: eager, or cached)


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


def hyperparameter_tables(configs: list[RunConfig], opt, device) -> tuple[dict, dict[str, Tensor]]:
    """Hyperparameters in float64: constant ones as `[K]` tensors, scheduled ones as
    `[steps+1, K]` tables; `hp["lr_max"]` is the peak of each config's lr."""
    hp = optim.hp_tensors(opt, [c.hparams for c in configs], torch.float64, device)
    tables = {}
    for name in sorted({name for c in configs for name in c.schedules}):
        columns = [schedules.parse(c.schedules.get(name, "constant")).values(c.steps, float(c.hparams[name]))
                   for c in configs]
        tables[name] = torch.stack(columns, dim=1).to(device=device)
    hp["lr_max"] = tables["lr"].amax(0) if "lr" in tables else hp["lr"]
    return hp, tables


CHUNK = 256  # steps of data drawn and coefficients tabled at a time


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
                       {k: p[torch.from_numpy(inverse)] for k, p in result.params.items()}, result.tables,
                       result.compile_seconds)


def _run_seed_sorted(configs: list[RunConfig], device: str, progress: bool) -> BatchResult:
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
    sizes = [len(g) for g in groups]
    per_seed = problem.loss_and_grad_per_seed is not None
    # A problem file may build tensors with plain torch.ones(...): params take the run's device
    # and dtype, data and batches its device (.to is a no-op where they already are).
    data = [_to(problem.make_data(seed_generator(s, "data", dev)), dev) for s in seeds]
    streams = [seed_generator(s, "stream", dev) for s in seeds]
    inits = [_to(problem.init_params(seed_generator(s, "init", dev)), dev, dtype) for s in seeds]
    params = {k: _allocate(torch.stack([p[k] for p in inits])[seed_index], problem.param_layout().get(k))
              for k in inits[0]}
    spare = {k: torch.empty_like(p) for k, p in params.items()}  # the other buffer: θ_t is written there
    frozen = {k: torch.empty_like(p) for k, p in params.items()}  # θ at the step before a config died (its rows only)

    hp, tables = hyperparameter_tables(configs, opt, dev)
    hp["normalized"] = problem.normalized_params()
    stepper = optim.InPlace(opt, params, hp, tables, compile=first.compile)
    loss_and_grad = gradient_fn(problem)
    work: dict[str, Tensor] = {}  # the per-seed fast path's buffers, kept between steps
    K = len(configs)
    alive = torch.ones(K, dtype=torch.bool, device=dev)
    diverged_at = torch.zeros(K, dtype=torch.long, device=dev)
    blowup = torch.tensor([float(c.blowup) for c in configs], dtype=dtype, device=dev)
    threshold = torch.full((K,), float("inf"), dtype=dtype, device=dev)
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
    bar = tqdm(total=first.steps, disable=not progress, leave=False, desc=first.optimizer)
    for start in range(1, first.steps + 1, CHUNK):
        steps = range(start, min(start + CHUNK, first.steps + 1))
        chunk = [_to(problem.sample_many(d, g, steps), dev) for d, g in zip(data, streams)]
        chunk = {k: torch.stack([c[k] for c in chunk], dim=1).unbind(0) for k in chunk[0]}  # C × [S, ...]
        stepper.prepare(steps[0], steps[-1])
        for i, t in enumerate(steps):
            by_seed = {k: v[i] for k, v in chunk.items()}  # [S, ...]
            probing = recorder.probes and (t == 1 or t % first.probe_every == 0 or t == first.steps)
            batch = _gather(by_seed, seed_index) if probing or not per_seed else None  # [K, ...]
            if per_seed:
                loss, grads = problem.loss_and_grad_per_seed(params, by_seed, sizes, work)
            else:
                loss, grads = loss_and_grad(params, batch)
            aux = stepper.step(params, spare, grads, t, direction=probing)
            if t == 1 and problem.nonnegative_loss:
                threshold = torch.where((loss > 0) & (blowup > 0), blowup * loss, threshold)
            # loss + Σθ_t is finite iff every term is (or it overflows: diverged too), and x − x ≠ 0
            # exactly for x = ±inf or NaN
            total = loss.clone()
            for p in spare.values():
                total += p.sum(tuple(range(1, p.dim())))
            dying = (total - total != 0).logical_or_(loss > threshold).logical_and_(alive)
            if dying.is_cuda or dying.any():  # on the CPU a host check is free: book-keep only on a death
                diverged_at = torch.where(dying, t, diverged_at)
                alive = alive & ~dying
                _freeze(frozen, params, dying)
            params, spare = spare, params  # θ_t becomes current; θ_{t−1} stays readable until the next step
            batch_loss = loss.detach()
            if probing:
                recorder.record(probes.Context(problem, first.optimizer, t, spare, params, grads, batch,
                                               stepper.state, aux, stepper.hp_at(t), data, groups), alive)
            if t % first.metric_every == 0 or t == first.steps:
                record(t)
        bar.update(len(steps))
    bar.close()

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
    final = {k: torch.where(optim.bcast(alive, p), p, frozen[k]).cpu() for k, p in params.items()}
    return BatchResult(metrics, diverged, final, recorder.frames(), stepper.compile_seconds)


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


def _gather(by_seed: dict[str, Tensor], seed_index: Tensor) -> dict[str, Tensor]:
    """Give each config its seed's batch: [S, ...] -> [K, ...] (a view when there is one seed)."""
    if len(next(iter(by_seed.values()))) == 1:
        return {k: v.expand(len(seed_index), *v.shape[1:]) for k, v in by_seed.items()}
    return {k: v[seed_index] for k, v in by_seed.items()}
