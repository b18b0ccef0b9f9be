"""Products whose result for one config does not depend on which other configs share its batch.

A config's numbers must be a function of its config alone (README, What is reproducible), and a
matrix product is where that breaks: torch folds `[K, m, k] @ [k, n]` (or a product of stacked
configs' rows) into one `mm` whose M dimension is K·m, and the BLAS kernel, and so its rounding,
is chosen by that shape. So every product a config takes part in is a `bmm` over the config
axis, each config's operands a `[m, k] @ [k, n]` of its own: MKL's batched gemm computes each
matrix of the batch alone, the same whatever the batch count, the matrix's place in the batch,
or a stride-0 (shared) operand, and torch's small-product kernel (m·k·n < 400) loops over the
batch the same way (`tests/test_batch_independence.py` checks this over the shapes the problems
use). One case differs: torch sends a batch of one to plain gemm, which MKL may round another
way (measured: m = n = 1, and with two threads [10, 65] @ [65, 32]); so a lone config is padded
to a batch of two (a stride-0 copy of itself) and its row taken back. And MKL rounds by the
memory alignment of the operands unless it runs in its reproducible mode, which importing this
module switches on (`runtime.reproducible_blas`).

    bmm(a, b, out)          a[k] @ b[k] for each config k
    baddbmm(c, a, b, β, α)  β·c[k] + α·a[k] @ b[k]
    vmap(fn)                torch.func.vmap over the config axis of every argument, a lone
                            config padded (the products inside become bmm's over the configs)
    shared(x, K)            a tensor every config uses, as a `[K, ...]` view (stride 0), so that
                            a product with it is a bmm and not a fold into one mm
    group_mm(a, b, out)     a[s, j] @ b[s] for groups s of configs sharing b[s]: one GEMM per group
                            over its configs' rows where that gives each config the bits of its
                            own bmm, else the bmm

The one GEMM is faster (linear regression's per-seed products at d = 64, D = 16, 64 configs:
0.51 vs 0.65 ms in float32) but whether it rounds a config's rows as the config's own product
depends on the BLAS kernel chosen for the shape, dtype and thread count (measured with MKL on
this project's CPU: the same bits for every group of 16-row configs in float32 and, with one
thread, float64; not in float64 with two threads for groups of 1–4, nor in float64 with the configs
along the GEMM's columns, nor for configs of 2 rows). So `group_mm` takes it only where a check on random operands of the same shape, strides,
dtype, device and thread count found every config's bits equal to the bmm's (once per process).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from . import runtime

runtime.reproducible_blas()  # before MKL computes anything (runtime: MKL's reproducible mode)


def shared(x: Tensor, K: int) -> Tensor:
    """x `[...]` as `[K, ...]` without a copy: the same tensor for every config."""
    return x.expand(K, *x.shape)


def _pad(x: Tensor) -> Tensor:
    return x.expand(2, *x.shape[1:])


def bmm(a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
    """`torch.bmm(a, b)` with a batch of one padded to two (into `out` where given)."""
    if len(a) != 1:
        return torch.bmm(a, b, out=out)
    result = torch.bmm(_pad(a), _pad(b))[:1]
    return result if out is None else out.copy_(result)


def baddbmm(c: Tensor, a: Tensor, b: Tensor, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    """`torch.baddbmm(c, a, b, beta=beta, alpha=alpha)` with a batch of one padded to two."""
    if len(a) != 1:
        return torch.baddbmm(c, a, b, beta=beta, alpha=alpha)
    return torch.baddbmm(_pad(c), _pad(a), _pad(b), beta=beta, alpha=alpha)[:1]


def group_mm(a: Tensor, b: Tensor, out: Tensor) -> Tensor:
    """`a[s, j] @ b[s]` into `out[s, j]` for the configs j of groups s sharing `b[s]` (`a`
    `[S, g, m, k]`, `b` `[S, k, n]`, `out` `[S, g, m, n]`, `a` and `out` contiguous): one bmm over
    the S groups of `[g·m, k] @ [k, n]` where `gemm_is_per_config` holds, else a bmm over each
    group's configs (`b[s]` a stride-0 operand)."""
    S, g, m, k = a.shape
    if gemm_is_per_config(S, g, m, b):
        torch.bmm(a.view(S, g * m, k), b, out=out.view(S, g * m, -1))
        return out
    for s in range(S):
        bmm(a[s], shared(b[s], g), out=out[s])
    return out


_CHECKED: dict[tuple, bool] = {}


def gemm_is_per_config(S: int, g: int, m: int, b: Tensor) -> bool:
    """Whether `group_mm`'s one product over S groups of g configs of m rows gives every config the
    bits of its own product (`bmm` over the configs); checked once per S, g, m, shape and strides
    of b, dtype, device and thread count, on random operands (a kernel's operations do not depend
    on the values)."""
    key = (S, g, m, b.shape, b.stride(), b.dtype, b.device, torch.get_num_threads())
    if key not in _CHECKED:
        gen = torch.Generator(device=b.device).manual_seed(g * m)
        a = torch.randn(S, g, m, b.shape[1], generator=gen, dtype=b.dtype, device=b.device)
        b = torch.empty_strided(b.shape, b.stride(), dtype=b.dtype, device=b.device).normal_(generator=gen)
        per_config = torch.empty(S, g, m, b.shape[2], dtype=b.dtype, device=b.device)
        for s in range(S):
            bmm(a[s], shared(b[s], g), out=per_config[s])
        _CHECKED[key] = torch.equal(torch.bmm(a.view(S, g * m, -1), b).view_as(per_config), per_config)
    return _CHECKED[key]


def vmap(fn):
    """`torch.func.vmap(fn)` over the leading config axis of every tensor argument (dicts and
    tuples of tensors allowed); with one config, run on two copies and return the first."""
    batched = torch.func.vmap(fn)

    def call(*args):
        if len(pytree.tree_leaves(args)[0]) != 1:
            return batched(*args)
        out = batched(*pytree.tree_map(_pad, args))
        return pytree.tree_map(lambda x: x[:1], out)

    return call
