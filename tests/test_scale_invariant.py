"""Scale-invariant problems: ⟨∇_W L, W⟩ = 0, L(cW) = L(W) for normalized W, and not for V."""
import pytest
import torch
from torch.func import grad, vmap

from toylab import problems
from toylab.options import UserError

CASES = [("scale_invariant", {"norm": n}) for n in ("row", "matrix", "layernorm")] + [
    ("scale_invariant_mlp", {"norm": n, "depth": 3}) for n in ("row", "matrix", "layernorm")
]


def setup(name, opts, seed=0):
    problem = problems.build(name, dict(opts, d_in=6, d_out=5, eval_size=64), dtype=torch.float64)
    data = problem.make_data(torch.Generator().manual_seed(seed))
    params = problem.init_params(torch.Generator().manual_seed(seed + 1))
    batch = problem.sample(data, torch.Generator().manual_seed(seed + 2), 1)
    return problem, data, params, batch


@pytest.mark.parametrize("name,opts", CASES)
def test_gradient_orthogonal_to_normalized_weights(name, opts):
    problem, _, params, batch = setup(name, opts)
    grads = grad(problem.loss)(params, batch)
    assert problem.normalized_params()
    for k in problem.normalized_params():
        inner = (grads[k] * params[k]).sum()
        assert abs(inner.item()) <= 1e-12 * grads[k].norm().item() * params[k].norm().item()
        assert grads[k].norm().item() > 1e-6


@pytest.mark.parametrize("name,opts", CASES)
def test_loss_invariant_to_scale_of_each_normalized_param(name, opts):
    problem, _, params, batch = setup(name, opts)
    base = problem.loss(params, batch)
    for k in problem.normalized_params():
        for c in (1e-3, 0.5, 3.0, 1e4):
            scaled = dict(params, **{k: c * params[k]})
            torch.testing.assert_close(problem.loss(scaled, batch), base, rtol=1e-12, atol=0)


def test_output_layer_is_not_scale_invariant():
    problem, _, params, batch = setup("scale_invariant_mlp", {})
    assert problem.normalized_params() == {"W1", "W2"}
    assert set(problem.param_shapes()) == {"W1", "W2", "V"}
    base = problem.loss(params, batch)
    assert not torch.isclose(problem.loss(dict(params, V=2 * params["V"]), batch), base)
    g = grad(problem.loss)(params, batch)["V"]
    assert abs((g * params["V"]).sum().item()) > 1e-3 * g.norm().item() * params["V"].norm().item()


@pytest.mark.parametrize("name,opts", CASES)
def test_metrics_batched_and_zero_at_the_teacher(name, opts):
    problem, data, params, _ = setup(name, opts)
    teacher = problem.teacher(data)
    stacked = {k: torch.stack([params[k], teacher[k], 7.0 * teacher[k]]) for k in params}
    if name == "scale_invariant_mlp":  # V is not scale-invariant: keep the teacher's
        stacked["V"][2] = teacher["V"]
    out = problem.metrics(stacked, data)
    assert all(v.shape == (3,) for v in out.values())
    assert out["loss"][0] > 1e-3 and out["loss"][1:].abs().max() < 1e-20
    for k in params:
        torch.testing.assert_close(out[f"norm_{k}"][:2], torch.stack([params[k].norm(), teacher[k].norm()]))
    if "teacher_cos" in out:
        torch.testing.assert_close(out["teacher_cos"][1:], torch.ones(2, dtype=torch.float64))
        assert out["teacher_cos"][0] < 0.9


def test_sample_is_teacher_plus_noise():
    problem, data, _, _ = setup("scale_invariant", {"noise": 0.0})
    batch = problem.sample(data, torch.Generator().manual_seed(0), 1)
    assert batch["x"].shape == (32, 6) and batch["y"].shape == (32, 5)
    torch.testing.assert_close(problem.forward(problem.teacher(data), batch["x"]), batch["y"])
    assert problem.loss(problem.teacher(data), batch).item() == 0.0


def test_layernorm_needs_two_outputs():
    with pytest.raises(UserError, match="layernorm"):
        problems.build("scale_invariant", {"norm": "layernorm", "d_out": 1})
    with pytest.raises(UserError, match="row, matrix, layernorm"):
        problems.build("scale_invariant", {"norm": "batch"})


def test_vmap_over_configs_matches_single_loss():
    problem, _, params, batch = setup("scale_invariant_mlp", {"norm": "layernorm"})
    stacked = {k: torch.stack([v, 2 * v]) for k, v in params.items()}
    losses = vmap(problem.loss, in_dims=(0, None))(stacked, batch)
    torch.testing.assert_close(losses[0], problem.loss(params, batch))
