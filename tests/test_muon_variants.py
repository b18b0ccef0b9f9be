"""Muon's variants against written-out references: a plain per-matrix loop in float64 numpy
(NorMuon), through the functional view, the engine's in-place form (`test_inplace.py`,
`test_optim_batched.py` rows `muon_normuon`) and the torch.optim-style class."""
import math

import numpy as np
import pytest
import torch

from toylab.optim import Muon, get, hyperparameters
from toylab.options import UserError, resolve


def polar(U):
    left, _, right = np.linalg.svd(U, full_matrices=False)
    return left @ right


def normuon_reference(W0, grads, lr, weight_decay, momentum, nesterov, beta2, eps, normalize, scale):
    """NorMuon as arXiv:2510.05491 and its normuon.py describe it, one matrix, float64: the EMA
    momentum (Nesterov look-ahead), the exact polar factor O, V ← β2V + (1 − β2)·mean(O²) per row
    (or column), N = O/(√V + ε), O' = N‖O‖_F/(‖N‖_F + ε), W ← (1 − ηλ)W − ηsO'."""
    W, M = W0.copy(), np.zeros_like(W0)
    axis = 1 if normalize == "rows" else 0
    V = np.zeros_like(W0.mean(axis=axis, keepdims=True))
    for g in grads:
        M = momentum * M + (1 - momentum) * g
        O = polar((1 - momentum) * g + momentum * M if nesterov else M)
        V = beta2 * V + (1 - beta2) * (O * O).mean(axis=axis, keepdims=True)
        N = O / (np.sqrt(V) + eps)
        O = N * np.linalg.norm(O) / (np.linalg.norm(N) + eps)
        W = (1 - lr * weight_decay) * W - lr * scale * O
    return W


CONFIGS = [dict(lr=2e-2, weight_decay=0.1, momentum=0.95, nesterov=True, normuon_beta2=0.95, normuon_eps=1e-10),
           dict(lr=5e-2, weight_decay=0.0, momentum=0.5, nesterov=False, normuon_beta2=0.5, normuon_eps=1e-10),
           dict(lr=1e-2, weight_decay=0.3, momentum=0.9, nesterov=True, normuon_beta2=0.0, normuon_eps=1e-3)]


@pytest.mark.parametrize("normalize", ["rows", "columns"])
@pytest.mark.parametrize("shape", [(6, 4), (3, 7)])
def test_normuon_equals_the_reference_loop(normalize, shape):
    """K = 3 configs differing in every NorMuon hyperparameter, 15 steps, exact polar factor: within 1e-10."""
    muon, steps = get("muon"), 15
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((3, *shape))
    grads = rng.standard_normal((steps, 3, *shape))
    values = [resolve("muon", muon.hparams, {**c, "normalize": normalize, "orthogonalizer": "svd"}) for c in CONFIGS]
    hp = hyperparameters(muon, values, torch.float64, "cpu")
    params = {"W": torch.from_numpy(W0)}
    state = muon.init(params, hp)
    for t in range(1, steps + 1):
        params, state, _ = muon.update({"W": torch.from_numpy(grads[t - 1])}, state, params, hp, t)
    scale = math.sqrt(max(1, shape[0] / shape[1]))
    for k, c in enumerate(CONFIGS):
        expected = normuon_reference(W0[k], grads[:, k], c["lr"], c["weight_decay"], c["momentum"], c["nesterov"],
                                     c["normuon_beta2"], c["normuon_eps"], normalize, scale)
        np.testing.assert_allclose(params["W"][k].numpy(), expected, rtol=1e-10, atol=1e-12)


def test_normuon_without_memory_gives_rows_of_equal_norm_and_muons_frobenius_norm(gen):
    """β2 = 0: V is the mean square of each row of O, so every row of the direction has the norm
    ‖O‖_F/√A = √(min(A, B)/A) (O semi-orthogonal), while the whole keeps Muon's ‖O‖_F."""
    muon, A, B = get("muon"), 6, 4
    values = resolve("muon", muon.hparams, dict(normalize="rows", normuon_beta2=0.0, orthogonalizer="svd"))
    hp = hyperparameters(muon, [values], torch.float64, "cpu")
    params = {"W": torch.randn(1, A, B, generator=gen, dtype=torch.float64)}
    _, state, aux = muon.update({"W": torch.randn(1, A, B, generator=gen, dtype=torch.float64)},
                                muon.init(params, hp), params, hp, 1)
    direction = aux["direction"]["W"][0]
    np.testing.assert_allclose(direction.norm(dim=1).numpy(), math.sqrt(min(A, B) / A), rtol=1e-9)
    assert float(direction.norm()) == pytest.approx(math.sqrt(min(A, B)), rel=1e-9)  # ε = 1e-10 in the rescaling
    assert state["second_momentum_buffer"]["W"].shape == (1, A, 1)


def test_muon_without_normalize_keeps_its_state_and_rejects_unknown_modes():
    muon = get("muon")
    hp = hyperparameters(muon, [resolve("muon", muon.hparams, {})], torch.float64, "cpu")
    assert set(muon.init({"W": torch.zeros(1, 3, 2)}, hp)) == {"momentum_buffer", "exp_avg", "exp_avg_sq"}
    with pytest.raises(UserError, match="normalize.*neurons.*rows"):
        resolve("muon", muon.hparams, {"normalize": "neurons"})


@pytest.mark.parametrize("normalize", ["rows", "columns"])
def test_torch_class_normuon_equals_the_reference_loop(normalize):
    """`toylab.optim.Muon(..., normalize=...)` on two 6×4 matrices (one stacked bucket) and a 4×6 one,
    torch's defaults but η = 2e-2 (λ = 0.1, μ = 0.95, Nesterov), exact polar factor, 10 steps;
    the per-parameter state holds NorMuon's V of shape (6, 1) or (1, 4)."""
    rng = np.random.default_rng(1)
    shapes, steps = [(6, 4), (6, 4), (4, 6)], 10
    starts = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    params = [torch.tensor(w, requires_grad=True) for w in starts]
    opt = Muon(params, lr=2e-2, normalize=normalize, orthogonalizer="svd")
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.from_numpy(g)
        opt.step()
    for i, (p, shape) in enumerate(zip(params, shapes)):
        expected = normuon_reference(starts[i], [gs[i] for gs in grads], 2e-2, 0.1, 0.95, True, 0.95, 1e-10,
                                     normalize, math.sqrt(max(1, shape[0] / shape[1])))
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    moment = opt.state_dict()["state"][0]["second_momentum_buffer"]
    assert tuple(moment.shape) == ((6, 1) if normalize == "rows" else (1, 4))


@pytest.mark.parametrize("normalize", ["rows", "columns"])
@pytest.mark.parametrize("layout", ["row_major", "transposed"])
def test_fused_normuon_agrees_with_eager(normalize, layout):
    """The fused step (`optim/fused.py`, the engine's default) keeps NorMuon's normalisation, also on
    a parameter stored transposed, whose fused view is the transpose (float64, 6 steps, 1e-12)."""
    from toylab.optim import InPlace, fused

    if fused.library() is None:
        pytest.skip("no C compiler: every step is eager")
    muon, K, A, B, steps = get("muon"), 4, 7, 5, 6
    gen = torch.Generator().manual_seed(2)
    start = torch.randn(K, A, B, generator=gen, dtype=torch.float64)
    grads = torch.randn(steps, K, A, B, generator=gen, dtype=torch.float64)
    rows = [resolve("muon", muon.hparams, {"normalize": normalize, "lr": 0.01 * (k + 1), "normuon_beta2": 0.3 * k})
            for k in range(K)]
    hp = hyperparameters(muon, rows, torch.float64, "cpu")
    results = []
    for use_fused in (False, True):
        params = start.clone() if layout == "row_major" else start.transpose(1, 2).contiguous().transpose(1, 2)
        current, other = {"W": params}, {"W": torch.empty_like(params)}
        stepper = InPlace(muon, current, hp, fused=use_fused)
        assert (stepper.fused is not None) == use_fused
        stepper.prepare(1, steps)
        for t in range(1, steps + 1):
            stepper.step(current, other, {"W": grads[t - 1]}, t)
            current, other = other, current
        results.append((current["W"], stepper.state["second_momentum_buffer"]["W"]))
    (eager, eager_v), (fast, fast_v) = results
    torch.testing.assert_close(fast, eager, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(fast_v, eager_v, rtol=1e-12, atol=1e-14)
    assert eager_v.shape == ((K, A, 1) if normalize == "rows" else (K, 1, B))
