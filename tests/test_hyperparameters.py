"""A batch's hyperparameters are one frozen record with every field present, built in one place."""
import dataclasses

import pytest
import torch

from toylab import engine, problems
from toylab.config import RunConfig
from toylab.optim import get, hyperparameters
from toylab.options import UserError, resolve


def test_the_record_holds_every_declared_hyperparameter_and_cannot_be_changed():
    opt = get("adamw")
    hp = hyperparameters(opt, [resolve("t", opt.hparams, {"lr": 0.1}), resolve("t", opt.hparams, {"lr": 0.3})],
                         torch.float64, "cpu")
    assert list(hp) == list(opt.hparams) and hp["betas"].shape == (2, 2) and hp["amsgrad"] is False
    assert torch.equal(hp.lr_max, torch.tensor([0.1, 0.3], dtype=torch.float64)) and hp.normalized == frozenset()
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.lr_max = torch.zeros(2)
    with pytest.raises(TypeError):
        hp["lr"] = torch.zeros(2)
    stepped = hp.replace(lr=torch.tensor([0.05, 0.15], dtype=torch.float64))
    assert stepped["lr"][0] == 0.05 and hp["lr"][0] == 0.1 and stepped.lr_max is hp.lr_max
    with pytest.raises(AssertionError, match="lr_max"):
        hp.replace(lr_max=hp.lr_max)


def test_static_hyperparameters_must_agree_within_a_batch():
    opt = get("muon")
    configs = [resolve("t", opt.hparams, {"ns_steps": n}) for n in (3, 5)]
    with pytest.raises(UserError, match=r"static hyperparameter ns_steps differs within one batch: \[3, 5\]"):
        hyperparameters(opt, configs, torch.float64, "cpu")


def test_the_engine_gives_the_peak_of_each_lr_schedule_and_the_problems_normalized_parameters():
    """η_max of corrected decay (C8): the largest lr of each config's schedule (the warmup's end)."""
    configs = [RunConfig("scale_invariant_mlp", "adamw", hparams={"lr": lr}, schedules={"lr": "cosine:warmup=5"},
                         steps=20).resolve() for lr in (0.1, 0.4)]
    problem = problems.build("scale_invariant_mlp", configs[0].problem_options)
    hp, tables = engine.hyperparameter_tables(configs, get("adamw"), "cpu", problem.normalized_params())
    assert torch.equal(hp.lr_max, tables["lr"].amax(0))
    torch.testing.assert_close(hp.lr_max, torch.tensor([0.1, 0.4], dtype=torch.float64), rtol=1e-12, atol=0)
    assert hp.normalized == frozenset(problem.normalized_params()) == {"W1", "W2"}
