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


def test_spectra_equal_numpy_svd():
    from toylab.probes import spectra

    gen = torch.Generator().manual_seed(3)
    K, m, n = 3, 7, 4
    mats = {which: torch.randn(K, m, n, generator=gen, dtype=torch.float64) for which in ("g", "b", "w", "o")}
    optimum = torch.randn(m, n, generator=gen, dtype=torch.float64)
    from toylab.problems import build
    problem = build("linear_regression", {"d": m - 1, "D": n}, dtype=torch.float64)
    data = [{"w_opt": optimum, "w_star": optimum}]
    ctx = spectra.Context(problem, "sgd", 1, {"W": mats["w"] - mats["o"]}, {"W": mats["w"]}, {"W": mats["g"]}, {},
                          {"momentum_buffer": {"W": mats["b"]}}, {"direction": {"W": mats["o"]}}, {}, data,
                          [torch.arange(K)])
    out = spectra.measure(ctx)
    expected = {"grad": mats["g"], "momentum": mats["b"], "update": mats["o"], "direction": mats["o"],
                "weights": mats["w"], "weights_minus_opt": mats["w"] - optimum}
    for which, a in expected.items():
        np.testing.assert_allclose(out[(which, "W")].numpy(), np.linalg.svd(a.numpy(), compute_uv=False),
                                   rtol=1e-12, atol=1e-12)
    o = mats["o"].numpy()
    gram_error = np.linalg.norm(np.swapaxes(o, 1, 2) @ o - np.eye(n), axis=(1, 2))
    np.testing.assert_allclose(out[("orthogonality_error", "W")].numpy(), gram_error, rtol=1e-10)


def test_spectra_table_is_tidy_per_matrix_and_index():
    result = run([config("sgd", probes=["spectra"], hparams={"lr": 1e-3, "momentum": 0.9})] * 2)
    table = result.tables["spectra"]
    assert list(table.columns) == ["config", "step", "quantity", "param", "index", "value"]
    sigma = table[(table.quantity == "weights") & (table.config == 1) & (table.step == 20)]
    assert list(sigma["index"]) == list(range(PROBLEM["D"]))
    np.testing.assert_allclose(sigma["value"], np.linalg.svd(result.params["W"][1].numpy(), compute_uv=False),
                               rtol=1e-10)
    assert set(table.quantity) == {"grad", "momentum", "update", "direction", "weights", "weights_minus_opt",
                                   "orthogonality_error"}
