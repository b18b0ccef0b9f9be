"""The scikit-learn dataset problems: split, standardisation, epochs, and the finite-data optimum
of diabetes against scikit-learn's own solvers (float64). `tests/test_problem_api.py` checks
their gradient fast paths against autograd."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, Ridge

from toylab import engine, problems
from toylab.config import RunConfig

TOL_SOLVER = 1e-10  # float64 normal equations against scikit-learn's lstsq / Cholesky solvers


def build(name, **options):
    return problems.build(name, options, dtype=torch.float64)


def data_for(problem, seed=0):
    return problem.make_data(engine.seed_generator(seed, "data", torch.device("cpu")))


@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_diabetes_optimum_is_scikit_learns(l2):
    """L(w) = mean (Xw − y)² + l2‖w_{1:}‖² is Ridge(alpha = N·l2) (LinearRegression at l2 = 0)."""
    problem = build("diabetes", l2=l2)
    data = data_for(problem)
    x, y = data["x_train"][:, 1:].numpy(), data["y_train"][:, 0].numpy()
    model = LinearRegression() if l2 == 0 else Ridge(alpha=len(x) * l2, solver="cholesky")
    model.fit(x, y)
    expected = np.concatenate([[model.intercept_], model.coef_])
    np.testing.assert_allclose(data["w_opt"][:, 0].numpy(), expected, rtol=TOL_SOLVER, atol=TOL_SOLVER)


def test_diabetes_run_reaches_scikit_learns_optimum():
    """A full-batch SGD run of the engine ends at Ridge's solution: excess loss and distance ≈ 0."""
    config = RunConfig("diabetes", "sgd", {"batch_size": 0, "l2": 0.05}, {"lr": 0.2, "momentum": 0.9},
                       steps=1500, dtype="float64").resolve()
    result = engine.run_batch([config])
    final = result.metrics[result.metrics["step"] == 1500].set_index("metric")["value"]
    assert final["excess_loss"] < 1e-12
    data = data_for(build("diabetes", batch_size=0, l2=0.05))
    ridge = Ridge(alpha=0.05 * len(data["x_train"]), solver="cholesky").fit(data["x_train"][:, 1:].numpy(),
                                                                            data["y_train"][:, 0].numpy())
    w = result.params["W"][0, :, 0].numpy()
    np.testing.assert_allclose(w, np.concatenate([[ridge.intercept_], ridge.coef_]), atol=1e-6)


@pytest.mark.parametrize("name", ["digits_softmax", "digits_mlp", "diabetes"])
def test_split_is_disjoint_and_standardised_on_the_training_set(name):
    problem = build(name)
    data = data_for(problem)
    n_train, n_test = len(data["x_train"]), len(data["x_test"])
    total = 1797 if name.startswith("digits") else 442
    assert n_train + n_test == total and n_test == round(0.25 * total)
    z = data["x_train"][:, 1:]
    assert torch.all(data["x_train"][:, 0] == 1)
    torch.testing.assert_close(z.mean(0), torch.zeros(z.shape[1], dtype=torch.float64), atol=1e-12, rtol=0)
    std = z.std(0, unbiased=False)
    assert torch.all(((std - 1).abs() < 1e-12) | (std == 0))  # constant pixels stay 0
    rows = {tuple(r) for r in data["x_train"].tolist()}
    assert sum(tuple(r) in rows for r in data["x_test"].tolist()) < 0.02 * n_test  # (a few digits repeat)
    other = data_for(problem, seed=1)
    assert not torch.equal(other["x_train"], data["x_train"]), "another seed draws another split"


def test_an_epoch_visits_every_training_example_once():
    problem = build("digits_softmax", batch_size=64)
    data = data_for(problem)
    gen = engine.seed_generator(0, "stream", torch.device("cpu"))
    M = problem.iters_per_epoch()
    assert M == len(data["x_train"]) // 64
    seen = torch.cat([problem.sample(data, gen, t)["x"] for t in range(1, M + 1)])
    assert len({tuple(r) for r in seen.tolist()}) >= 0.98 * M * 64  # no repeats within an epoch
    again = torch.cat([problem.sample(data, gen, t)["x"] for t in range(M + 1, 2 * M + 1)])
    assert not torch.equal(seen, again), "each epoch is reshuffled"


@pytest.mark.parametrize("name, optimizer, hparams, error", [
    ("digits_softmax", "adamw", {"lr": 0.01, "weight_decay": 0.0}, 0.06),
    ("digits_mlp", "muon", {"lr": 0.02, "adamw_lr": 0.003, "weight_decay": 0.0}, 0.06)])
def test_digits_models_learn_to_classify(name, optimizer, hparams, error):
    """A few epochs bring the held-out error under `error` (chance: 0.9)."""
    config = RunConfig(name, optimizer, {}, hparams, steps=400, metric_every=400).resolve()
    result = engine.run_batch([config])
    final = result.metrics[result.metrics["step"] == 400].set_index("metric")["value"]
    assert final["test_error"] < error
    assert final["loss"] < 0.5
