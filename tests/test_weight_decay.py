"""Weight decay end to end: timescales (C9), corrected decay (C8) and the ε schedule (C14)."""

import pytest
import torch

from toylab import engine, problems, store, theory
from toylab.config import RunConfig
from toylab.optim.adamw import adam_step
from toylab.options import UserError

FINITE = {"n_train": 256, "batch_size": 32}  # M = 8 iterations per epoch


def test_tau_iter_and_tau_epoch_set_the_decay():
    lr = 0.01
    by_iter = RunConfig("linear_regression", "adamw", FINITE, {"lr": lr, "tau_iter": 400}).resolve()
    by_epoch = RunConfig("linear_regression", "adamw", FINITE, {"lr": str(lr), "tau_epoch": "50"}).resolve()
    assert by_iter.hparams["weight_decay"] == pytest.approx(1 / (lr * 400))
    assert by_epoch.hparams["weight_decay"] == pytest.approx(theory.weight_decay_for_tau_epoch(lr, 8, 50))
    assert "tau_iter" not in by_iter.hparams and "tau_epoch" not in by_epoch.hparams
    assert by_iter.hash() == by_epoch.hash()  # 50 epochs of 8 steps are 400 iterations
    full_batch = RunConfig("linear_regression", "sgd", {"n_train": 64, "batch_size": 0}, {"lr": 0.1, "tau_epoch": 5}).resolve()
    assert full_batch.hparams["weight_decay"] == pytest.approx(2.0)


@pytest.mark.parametrize("problem_options,hparams,needle", [
    ({}, {"tau_epoch": 3}, "finite dataset"),
    (FINITE, {"tau_epoch": 3, "weight_decay": 0.1}, "not several"),
    (FINITE, {"tau_epoch": 3, "tau_iter": 3}, "not several"),
    (FINITE, {"tau_iter": 0}, "> 0"),
    (FINITE, {"lr": 0, "tau_iter": 10}, "lr > 0"),
])
def test_bad_timescales_are_one_line_errors(problem_options, hparams, needle):
    with pytest.raises(UserError, match=needle):
        RunConfig("linear_regression", "adamw", problem_options, hparams).resolve()


@pytest.mark.parametrize("optimizer,hparams", [
    ("adamw", {"lr": 0.1, "weight_decay": 0.5}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.5, "decoupled_decay": True}),
])
def test_corrected_decay_scales_normalized_params_only(optimizer, hparams):
    """Two steps of cosine lr: γ_1 = γ_max/2, γ_2 = 0, so the run ends after step 1 where
    AdamC/SGDC shrinks W_l by 1 − γ_1·λγ_1/γ_max and V by 1 − γ_1λ, the plain run both by 1 − γ_1λ."""
    options = {"depth": 2, "width": 8, "d_in": 6, "d_out": 3, "batch_size": 4}
    base = dict(problem="scale_invariant_mlp", optimizer=optimizer, problem_options=options, steps=2,
                schedules={"lr": "cosine"}, dtype="float64")
    configs = [RunConfig(**base, hparams={**hparams, "corrected_decay": c}).resolve() for c in (True, False)]
    final = engine.run_batch(configs).params
    corrected, plain = ({k: v[i] for k, v in final.items()} for i in (0, 1))
    problem = problems.build("scale_invariant_mlp", configs[0].problem_options, dtype=torch.float64)
    init = problem.init_params(engine.seed_generator(0, "init", torch.device("cpu")))
    lr1, lr_max, wd = hparams["lr"] / 2, hparams["lr"], hparams["weight_decay"]
    for name in problem.normalized_params():  # W_A − W_plain = W_0·γ_1(λ − λγ_1/γ_max)
        expected = init[name] * lr1 * (wd - theory.corrected_weight_decay(wd, lr1, lr_max))
        torch.testing.assert_close(corrected[name] - plain[name], expected, rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(corrected["V"], plain["V"], rtol=0, atol=0)
    assert not torch.equal(corrected["W1"], plain["W1"])


def test_epsilon_schedule_reaches_adamw_end_to_end():
    """The engine's ε_t is theory.epsilon_schedule: replay the run by hand with adam_step."""
    steps, eps0, spec = 30, 1e-8, "epsilon:eps_max=0.1,warmup=0.2,end=0.7,k=0.3"
    config = RunConfig("noise", "adamw", {"n": 5}, {"lr": 0.01, "eps": eps0, "weight_decay": 0.1},
                       schedules={"eps": spec}, steps=steps, dtype="float64").resolve()
    got = engine.run_batch([config]).params["theta"]
    problem = problems.build("noise", config.problem_options, dtype=torch.float64)
    cpu = torch.device("cpu")
    theta = problem.init_params(engine.seed_generator(0, "init", cpu))["theta"][None]
    stream = engine.seed_generator(0, "stream", cpu)
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    eps_t = theory.epsilon_schedule(range(steps + 1), steps, eps0, 0.1, 0.2, 0.7, 0.3)
    one = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
    for t in range(1, steps + 1):
        g = problem.sample({}, stream, t)["g"][None]
        theta, m, v, _ = adam_step(theta, g, m, v, t, lr=one(0.01), beta1=one(0.9), beta2=one(0.999),
                                   eps=one(eps_t[t]), weight_decay=one(0.1))
    torch.testing.assert_close(got, theta, rtol=1e-12, atol=0)
    constant = engine.run_batch([RunConfig(**{**config.__dict__, "schedules": {}})]).params["theta"]
    assert (constant - got).abs().max() > 1e-3  # ε_max = 0.1 ≫ √v̂ changes the trajectory


def test_cli_sweeps_a_decay_timescale(tmp_path):
    from click.testing import CliRunner

    from toylab.cli import main
    args = ["sweep", "linear_regression", "--optimizer", "adamw", "--lr", "0.01", "-p", "n_train=64",
            "-p", "batch_size=16", "-o", "tau_epoch=2,8", "--steps", "4", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    decays = sorted(run.config["hparams"]["weight_decay"] for run in store.runs_in(tmp_path).values())
    assert decays == pytest.approx([1 / (0.01 * 4 * 8), 1 / (0.01 * 4 * 2)])
