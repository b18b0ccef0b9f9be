"""Shared drivers for the optimizer tests: one trajectory of random gradients, run three ways."""
from __future__ import annotations

import torch

from toylab.optim import hyperparameters
from toylab.options import resolve

SHAPES = [(7,), (5, 3), (3, 8)]


def trajectory(shapes=SHAPES, steps=50, seed=0, dtype=torch.float64):
    """Initial params and `steps` lists of random gradients, unbatched."""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    grads = [[torch.randn(s, generator=gen, dtype=dtype) for s in shapes] for _ in range(steps)]
    return params, grads


def run_torch(cls, kwargs, params, grads, schedule=None, normalized=()):
    """Drive a torch.optim.Optimizer class over the trajectory, lr_t = lr·schedule(t) through
    torch's LambdaLR; the params indexed by `normalized` form a group marked `normalized`.
    Returns the final params."""
    ps = [p.clone().requires_grad_() for p in params]
    groups = [{"params": [p for i, p in enumerate(ps) if i not in normalized]}]
    if normalized:
        groups.append({"params": [ps[i] for i in normalized], "normalized": True})
    opt = cls(groups, **kwargs)
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: schedule(e + 1)) if schedule else None
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = g.clone()
        opt.step()
        if lr_schedule:
            lr_schedule.step()
    return [p.detach() for p in ps]


def run_functional(opt, values, params, grads, schedule=None, normalized=()):
    """Drive a functional optimizer with K = len(values) configs over batched `[K, *shape]`
    params and grads; lr_t = lr·schedule(t) with lr_max = lr. Returns params and the last aux."""
    names = [f"p{i}" for i in range(len(params))]
    ps = dict(zip(names, params))
    hp = hyperparameters(opt, [resolve("test", opt.hparams, v) for v in values], params[0].dtype, params[0].device,
                         normalized={names[i] for i in normalized})
    state, aux = opt.init(ps, hp), None
    for t, gs in enumerate(grads, start=1):
        step_hp = hp.replace(lr=hp.lr_max * (schedule(t) if schedule else 1.0))
        ps, state, aux = opt.update(dict(zip(names, gs)), state, ps, step_hp, t)
    return [ps[n] for n in names], aux


def run_single(opt, values, params, grads, **kw):
    """`run_functional` with one config on unbatched params (K = 1)."""
    out, aux = run_functional(opt, [values], [p.unsqueeze(0) for p in params],
                              [[g.unsqueeze(0) for g in gs] for gs in grads], **kw)
    return [p[0] for p in out], aux


def rel_err(a, b):
    """Largest |a − b| over the largest |b|, across a list of tensors."""
    return max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b))
