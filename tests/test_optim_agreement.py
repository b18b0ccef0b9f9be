"""toylab's optimizers against torch.optim and against written-out loops of their formulas.

Every case runs 50 steps of random float64 gradients on shapes (7,), (5, 3), (3, 8).
"""
import itertools

import pytest
import torch

from toylab.optim import adamw, muon, sgd, signsgd, torch_api
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



# torch.optim.Muon runs Newton–Schulz in bfloat16 with addmm; toylab batches it with baddbmm,
# whose bfloat16 rounding differs from addmm's in rare elements (about 1 matmul in 300). Those
# flips, times lr, are what remains after 50 steps (reached: 7e-5 relative, float32 params).
TOL_MUON_BF16 = 2e-4
MUON_CASES = [dict(lr=0.02, weight_decay=0.1, momentum=0.95, nesterov=n, adjust_lr_fn=a)
              for n, a in itertools.product([True, False], [None, "match_rms_adamw"])]


@pytest.mark.parametrize("kwargs", MUON_CASES, ids=map(str, MUON_CASES))
def test_muon_matches_torch_optim(kwargs):
    params, grads = trajectory([(5, 3), (3, 8), (16, 32), (64, 16)], dtype=torch.float32)
    expected = run_torch(torch.optim.Muon, kwargs, params, grads)
    assert rel_err(run_torch(torch_api.Muon, dict(kwargs, ns_dtype="bfloat16"), params, grads),
                   expected) <= TOL_MUON_BF16
    kwargs = dict(kwargs, adjust_lr=kwargs.pop("adjust_lr_fn") or "original", ns_dtype="bfloat16")
    assert rel_err(run_single(muon.MUON, kwargs, params, grads)[0], expected) <= TOL_MUON_BF16


# ---- switches torch lacks: against the formulas written out per parameter, unbatched ----------
TOL_REF = 1e-12  # float64; the loops below round in a different order than the optimizers
TOL_NS_FLOAT32 = 1e-6  # Muon with ns_dtype=float32 against the float64 loop (reached: 5e-8)


def schedule(t):
    """A warmup-then-decay lr factor, so that corrected decay (λ·η_t/η_max) varies."""
    return min(t / 10, 1.0) * (0.1 + 0.9 * (1 - t / 60))


def ref_adamw(p, grads, t_lr, lam, lr, betas, eps, weight_decay, bias_correction=True,
              zero_init=True, nested_ema=False, corrected_decay=False):
    b1, b2 = betas
    m = v = None
    for t, g in enumerate(grads, start=1):
        p = p * (1 - t_lr(t) * lam(t, corrected_decay))
        v = (torch.zeros_like(g) if zero_init else g * g) if v is None else v
        v = b2 * v + (1 - b2) * g * g
        v_hat = v / (1 - b2**t) if bias_correction else v
        x = g / (v_hat.sqrt() + eps) if nested_ema else g
        m = (torch.zeros_like(g) if zero_init else x) if m is None else m
        m = b1 * m + (1 - b1) * x
        m_hat = m / (1 - b1**t) if bias_correction else m
        p = p - t_lr(t) * (m_hat if nested_ema else m_hat / (v_hat.sqrt() + eps))
    return p


def ref_sgd(p, grads, t_lr, lam, lr, momentum, dampening, nesterov, weight_decay,
            decoupled_decay=False, corrected_decay=False):
    buf = None
    for t, g in enumerate(grads, start=1):
        if decoupled_decay:
            p = p * (1 - t_lr(t) * lam(t, corrected_decay))
        else:
            g = g + lam(t, corrected_decay) * p
        buf = g if buf is None else momentum * buf + (1 - dampening) * g
        u = (g + momentum * buf if nesterov else buf) if momentum else g
        p = p - t_lr(t) * u
    return p


def ref_signsgd(p, grads, t_lr, lam, lr, momentum, weight_decay):
    m = torch.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = momentum * m + (1 - momentum) * g
        p = p * (1 - t_lr(t) * weight_decay) - t_lr(t) * torch.sign(m)
    return p


def ref_newton_schulz(G, steps=5, a=3.4445, b=-4.7750, c=2.0315, eps=1e-7):
    X = G.T if G.shape[0] > G.shape[1] else G
    X = X / max(torch.linalg.norm(X).item(), eps)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if G.shape[0] > G.shape[1] else X


def ref_muon(p, grads, t_lr, lam, lr, weight_decay, momentum, nesterov, momentum_form, adjust_lr,
             ns_dtype, adamw_lr=3e-4, adamw_betas=(0.9, 0.95), adamw_eps=1e-10):
    if p.dim() != 2:
        return ref_adamw(p, grads, lambda t: adamw_lr * t_lr(t) / lr, lam, adamw_lr, adamw_betas,
                         adamw_eps, weight_decay)
    A, B = p.shape
    scale = {"original": max(1, A / B) ** 0.5, "match_rms_adamw": 0.2 * max(A, B) ** 0.5,
             "none": 1.0}[adjust_lr]
    buf = torch.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if momentum_form == "ema":
            buf = momentum * buf + (1 - momentum) * g
            u = (1 - momentum) * g + momentum * buf if nesterov else buf
        else:
            buf = momentum * buf + g
            u = g + momentum * buf if nesterov else buf
        p = p * (1 - t_lr(t) * weight_decay) - t_lr(t) * scale * ref_newton_schulz(u)
    return p


def switches(**choices):
    return [dict(zip(choices, v)) for v in itertools.product(*choices.values())]


REF_CASES = (
    [(adamw.ADAMW, torch_api.AdamW, ref_adamw, dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6,
                                                      weight_decay=0.2, **s))
     for s in switches(bias_correction=[True, False], zero_init=[True, False],
                       nested_ema=[False, True], corrected_decay=[False, True])]
    + [(sgd.SGD, torch_api.SGD, ref_sgd, dict(lr=0.05, weight_decay=0.2, **m, **s))
       for m in [dict(momentum=0.0, dampening=0.0, nesterov=False),
                 dict(momentum=0.9, dampening=0.5, nesterov=False),
                 dict(momentum=0.9, dampening=0.0, nesterov=True)]
       for s in switches(decoupled_decay=[False, True], corrected_decay=[False, True])]
    + [(signsgd.SIGNSGD, torch_api.SignSGD, ref_signsgd, dict(lr=0.05, **s))
       for s in switches(momentum=[0.0, 0.9], weight_decay=[0.0, 0.2])]
    + [(muon.MUON, torch_api.Muon, ref_muon, dict(lr=0.02, weight_decay=0.1, momentum=0.9, **s))
       for s in switches(momentum_form=["ema", "sum"], nesterov=[True, False],
                         adjust_lr=["original", "match_rms_adamw", "none"],
                         ns_dtype=["float64", "float32"])])


@pytest.mark.parametrize("opt, wrapper, reference, kwargs", REF_CASES,
                         ids=[f"{c[0].name}-{c[3]}" for c in REF_CASES])
def test_matches_written_out_formulas(opt, wrapper, reference, kwargs):
    """With an lr schedule; parameter 1 is marked normalized (corrected decay applies to it)."""
    params, grads = trajectory()
    expected = []
    for i, p in enumerate(params):
        def lam(t, corrected, i=i):
            return kwargs["weight_decay"] * (schedule(t) if corrected and i == 1 else 1.0)
        expected.append(reference(p, [g[i] for g in grads], lambda t: kwargs["lr"] * schedule(t),
                                  lam, **kwargs))
    run = dict(schedule=schedule, normalized=(1,))
    tol = TOL_NS_FLOAT32 if kwargs.get("ns_dtype") == "float32" else TOL_REF
    assert rel_err(run_single(opt, kwargs, params, grads, **run)[0], expected) <= tol
    assert rel_err(run_torch(wrapper, kwargs, params, grads, **run), expected) <= tol


@pytest.mark.parametrize("cls, kwargs", [(torch_api.AdamW, dict(lr=1e-2)),
                                         (torch_api.SGD, dict(lr=1e-2, momentum=0.9)),
                                         (torch_api.SignSGD, dict(lr=1e-2)),
                                         (torch_api.Muon, dict(lr=2e-2, adamw_lr=1e-2))])
def test_wrapper_trains_a_model_with_a_closure(cls, kwargs):
    """A linear model (matrix weight and bias vector) fit by an ordinary closure loop."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=gen)
    y = x @ torch.randn(6, 3, generator=gen) + 1.0
    model = torch.nn.Linear(6, 3)
    opt = cls(model.parameters(), **kwargs)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = closure().item()
    for _ in range(100):
        last = opt.step(closure).item()
    assert last < 0.5 * first
