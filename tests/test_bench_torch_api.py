"""The torch.optim-classes benchmark runs and fills its table (no timing assertions)."""
from toylab.bench import torch_api


def test_torch_api_bench_table():
    rows = torch_api.table(models=("mlp",), steps=1, repeats=1)
    assert [r["optimizer"] for r in rows] == [o[0] for o in torch_api.OPTIMIZERS]
    assert all(r["toylab ms"] > 0 and r["toylab / torch default"] > 0 for r in rows)
    assert sum(p.numel() for p in torch_api.parameters("transformer", False)) == 4 * (12 * 128**2 + 13 * 128)
