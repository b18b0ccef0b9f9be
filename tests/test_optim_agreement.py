"""toylab's optimizers against torch.optim and against written-out loops of their formulas.

Every case runs 50 steps of random float64 gradients on shapes (7,), (5, 3), (3, 8).
"""
import itertools

import pytest
import torch

from toylab.optim import adamw, sgd, torch_api
from optim_util import rel_err, run_single, run_torch, trajectory

TOL_TORCH = 1e-12  # float64, same op order as torch: only rounding-level differences remain

ADAMW_CASES = [dict(lr=1e-2, betas=b, eps=e, weight_decay=w) for b, e, w in itertools.product(
    [(0.9, 0.999), (0.5, 0.9)], [1e-8, 1e-3], [0.0, 0.1])]
SGD_CASES = [dict(lr=1e-2, momentum=m, dampening=d, nesterov=n, weight_decay=w)
             for m, d, n, w in itertools.product([0.0, 0.9], [0.0, 0.5], [False, True], [0.0, 0.1])
             if not n or (m > 0 and d == 0)]
TORCH_CASES = ([(adamw.ADAMW, torch_api.AdamW, torch.optim.AdamW, c) for c in ADAMW_CASES]
               + [(sgd.SGD, torch_api.SGD, torch.optim.SGD, c) for c in SGD_CASES])


@pytest.mark.parametrize("opt, wrapper, reference, kwargs", TORCH_CASES,
                         ids=[f"{c[0].name}-{c[3]}" for c in TORCH_CASES])
def test_matches_torch_optim(opt, wrapper, reference, kwargs):
    params, grads = trajectory()
    expected = run_torch(reference, kwargs, params, grads)
    assert rel_err(run_torch(wrapper, kwargs, params, grads), expected) <= TOL_TORCH
    assert rel_err(run_single(opt, kwargs, params, grads)[0], expected) <= TOL_TORCH
