"""The CUDA path: no host-device synchronisation inside the step loop. Skipped without a GPU.

A synchronising call (`.item()`, `bool(tensor)`, `nonzero`, a copy to the host) raises a warning
under `torch.cuda.set_sync_debug_mode("warn")`. Setup and the final copy of the results sync a
fixed number of times, so a loop without syncs gives the same count for 10 and for 40 steps.
"""
import warnings

import pytest
import torch

from toylab import engine
from toylab.config import RunConfig
from toylab.grids import grid

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _syncs(optimizer: str, steps: int) -> int:
    base = RunConfig("linear_regression", optimizer, {"d": 8, "D": 4}, steps=steps, metric_every=steps)
    configs = [c.resolve() for c in grid(base, {"hparams.lr": [1e-3, 1e-2], "seed": [0, 1]})]
    engine.run_batch(configs, device="cuda")  # warm-up: lazy CUDA initialisation syncs once
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine.run_batch(configs, device="cuda")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd", "signsgd", "muon"])
def test_step_loop_never_synchronises(optimizer):
    assert _syncs(optimizer, 10) == _syncs(optimizer, 40)


def test_muon_orthogonalises_in_bfloat16_on_cuda(monkeypatch):
    from toylab import optim
    from toylab.optim import muon as muon_module

    dtypes = []
    real = muon_module.orthogonalize
    monkeypatch.setattr(muon_module, "orthogonalize", lambda G, *a: dtypes.append(G.dtype) or real(G, *a))
    muon = optim.get("muon")
    hp = optim.hyperparameters(muon, [{k: o.default for k, o in muon.hparams.items()}], torch.float32,
                          torch.device("cuda"))
    params = {"W": torch.randn(1, 8, 4, device="cuda")}
    muon.update({"W": torch.randn_like(params["W"])}, muon.init(params, hp), params, hp, 1)
    assert dtypes == [torch.bfloat16]
