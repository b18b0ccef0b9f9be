"""Probes (float64): closed forms against numpy/scipy/Monte Carlo, and probes leave runs unchanged."""
import numpy as np
import pandas as pd
import pytest
import torch

from toylab import engine
from toylab.config import RunConfig
from toylab.experiments import run_configs
from toylab.options import UserError

PROBLEM = {"d": 5, "D": 3, "condition_number": 10.0, "batch_size": 8, "init_std": 0.5}


def config(optimizer="adamw", probes=(), **kw):
    kw.setdefault("steps", 20)
    return RunConfig("linear_regression", optimizer, dict(PROBLEM), dtype="float64", probes=tuple(probes),
                     probe_every=5, **kw).resolve()


def run(configs):
    return engine.run_batch(list(configs))


def test_unknown_probe_is_a_user_error_listing_valid_names():
    with pytest.raises(UserError, match="valid probes: .*norms"):
        RunConfig("linear_regression", "adamw", probes=("nrms",)).resolve()


def test_norms_match_direct_numpy():
    c = config(probes=["norms"], hparams={"lr": 1e-2}, steps=5)
    result = run([c])
    # replay by hand: the same run without probes, one step short, gives θ_{t−1}
    before = run([config(hparams={"lr": 1e-2}, steps=4)]).params["W"][0].numpy()
    after = result.params["W"][0].numpy()
    norms = result.tables["norms"]
    last = norms[norms.step == 5].set_index("quantity")["value"]
    update = after - before
    assert last["rms_weights"] == pytest.approx(np.sqrt(np.mean(after**2)), rel=1e-12)
    assert last["rms_update"] == pytest.approx(np.sqrt(np.mean(update**2)), rel=1e-12)
    assert last["linf_weights"] == pytest.approx(np.abs(after).max(), rel=1e-12)
    cos = (update * before).sum() / np.linalg.norm(update) / np.linalg.norm(before)
    assert last["cos_update_weights"] == pytest.approx(cos, rel=1e-10)
    assert sorted(norms.step.unique()) == [1, 5]
