"""Linear regression: closed forms against autograd, numpy and Monte Carlo (float64)."""
import numpy as np
import pytest
import torch
from torch.func import grad, vmap

from toylab.options import UserError
from toylab.problems import build


def lr_problem(**opts):
    return build("linear_regression", opts, dtype=torch.float64)


@pytest.mark.parametrize("opts", [
    {"reduction": "sum"}, {"reduction": "mean"},
    {"n_train": 50, "batch_size": 10, "condition_number": 100.0},
    {"n_train": 40, "batch_size": 0, "effective_rank": 3.0, "rotate": False},
])
def test_closed_form_gradient_equals_autograd(opts, gen):
    p = lr_problem(d=5, D=3, init_std=1.0, **opts)
    data = p.make_data(gen)
    params = {"W": torch.stack([p.init_params(gen)["W"] for _ in range(4)])}
    batch = {k: torch.stack([v] * 4) for k, v in p.sample(data, gen, 1).items()}
    loss, g = p.loss_and_grad(params, batch)
    auto_g = vmap(grad(p.loss))(params, batch)
    auto_loss = vmap(p.loss)(params, batch)
    torch.testing.assert_close(g["W"], auto_g["W"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(loss, auto_loss, rtol=1e-12, atol=1e-12)


def test_per_example_gradients_sum_to_batch_gradient(gen):
    p = lr_problem(d=4, D=2, init_std=1.0, reduction="mean")
    data = p.make_data(gen)
    params = {"W": p.init_params(gen)["W"][None]}
    batch = {k: v[None] for k, v in p.sample(data, gen, 1).items()}
    per_example = p.per_example_grads(params, batch)["W"]
    torch.testing.assert_close(per_example.sum(1), p.loss_and_grad(params, batch)[1]["W"], rtol=1e-12, atol=1e-12)


def test_input_covariance_has_requested_condition_number(gen):
    p = lr_problem(d=6, D=1, condition_number=1e3)
    cov = p.make_data(gen)["second_moment"][1:, 1:]
    eig = torch.linalg.eigvalsh(cov)
    assert float(eig.max() / eig.min()) == pytest.approx(1e3, rel=1e-9)


def test_finite_dataset_optimum_is_numpy_least_squares(gen):
    p = lr_problem(d=5, D=3, n_train=60, batch_size=0, noise=0.5)
    data = p.make_data(gen)
    x, y = data["x"].numpy(), data["y"].numpy()
    w_np = np.linalg.lstsq(x, y, rcond=None)[0]
    np.testing.assert_allclose(data["w_opt"].numpy(), w_np, rtol=1e-10, atol=1e-12)
    m = p.metrics({"W": torch.stack([data["w_opt"], data["w_opt"] + 0.1])}, data)
    assert float(m["excess_loss"][0]) == pytest.approx(0.0, abs=1e-12)
    direct = ((x @ (w_np + 0.1) - y) ** 2).sum(1).mean()
    assert float(m["loss"][1]) == pytest.approx(direct, rel=1e-10)


def test_population_loss_matches_monte_carlo(gen):
    p = lr_problem(d=6, D=2, noise=0.3, condition_number=10.0, batch_size=200_000)
    data = p.make_data(gen)
    w = data["w_star"] + 0.2 * torch.randn(7, 2, generator=gen, dtype=torch.float64)
    batch = p.sample(data, gen, 1)
    mc = ((batch["x"] @ w - batch["y"]) ** 2).sum(1).mean()
    assert float(p.metrics({"W": w[None]}, data)["loss"][0]) == pytest.approx(float(mc), rel=0.02)


def test_epochs_visit_every_point_once(gen):
    p = lr_problem(d=2, D=1, n_train=12, batch_size=4)
    data = p.make_data(gen)
    rows = torch.cat([p.sample(data, gen, t)["x"] for t in (1, 2, 3)])
    assert torch.equal(rows[rows[:, 1].argsort()], data["x"][data["x"][:, 1].argsort()])


@pytest.mark.parametrize("opts, words", [
    ({"batch_size": 0}, "n_train"),
    ({"n_train": 10, "batch_size": 20}, "batch_size=20"),
    ({"d": 0}, "d=0"),
    ({"reduction": "max"}, "sum, mean"),
    ({"typo": 1}, "valid options"),
])
def test_bad_options_name_the_value(opts, words):
    with pytest.raises(UserError, match=words):
        lr_problem(**opts)


def test_finite_data_test_loss_is_the_population_loss(gen):
    """`test_loss` of a finite-data run is the streaming problem's `loss` at the same W."""
    finite = build("linear_regression", {"d": 5, "D": 2, "n_train": 40, "batch_size": 8}, dtype=torch.float64)
    streaming = build("linear_regression", {"d": 5, "D": 2}, dtype=torch.float64)
    data = finite.make_data(torch.Generator().manual_seed(3))
    population = streaming.make_data(torch.Generator().manual_seed(3))
    w = {"W": torch.randn(3, 6, 2, generator=gen, dtype=torch.float64)}
    torch.testing.assert_close(finite.metrics(w, data)["test_loss"], streaming.metrics(w, population)["loss"])
    assert finite.iters_per_epoch() == 5 and streaming.iters_per_epoch() is None
