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
