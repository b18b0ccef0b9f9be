"""Sharded sweeps: submitit jobs write the same run folders as one process."""
import pytest

submitit = pytest.importorskip("submitit")  # the bench extra; a bare GPU image may lack it

from toylab import shards, store
from toylab.config import RunConfig
from toylab.experiments import run_configs
from toylab.grids import grid


def _sweep():
    base = RunConfig("linear_regression", "sgd", {"d": 4, "D": 2}, steps=10, metric_every=5)
    return grid(base, {"hparams.lr": [1e-3, 1e-2], "hparams.momentum": [0.0, 0.9], "seed": [0, 1]})


def _folders(root):
    return sorted(store.runs_in(root))


def test_submitit_local_shards_match_the_unsharded_sweep(tmp_path):
    run_configs(_sweep(), tmp_path / "whole", device="cpu")
    executor = submitit.LocalExecutor(folder=tmp_path / "logs")
    executor.update_parameters(timeout_min=5)
    sizes = shards.launch(_sweep(), tmp_path / "sharded", 2, device="cpu", executor=executor)
    assert sum(sizes) == 8 and all(sizes)
    assert _folders(tmp_path / "sharded") == _folders(tmp_path / "whole")


def test_selection_ignores_config_order():
    configs = [c.resolve() for c in _sweep()]
    for index in range(3):
        forward = {c.hash() for c in shards.select(configs, index, 3)}
        assert forward == {c.hash() for c in shards.select(configs[::-1], index, 3)}


def test_a_single_group_is_dealt_out_evenly():
    base = RunConfig("linear_regression", "sgd", {"d": 3, "D": 1}, steps=5)
    configs = [c.resolve() for c in grid(base, {"hparams.lr": [1e-3, 1e-2, 1e-1], "seed": [0, 1, 2]})]
    sizes = [len(shards.select(configs, i, 4)) for i in range(4)]
    assert sorted(sizes) == [2, 2, 2, 3]
    assert sorted(c.hash() for i in range(4) for c in shards.select(configs, i, 4)) == sorted(c.hash() for c in configs)
