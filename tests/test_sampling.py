"""Chunked sampling: `sample_many` gives exactly the batches `sample` gives step after step."""
import pytest
import torch

from toylab import engine, problems

CASES = [("linear_regression", {"d": 7, "D": 3, "batch_size": 5}),
         ("linear_regression", {"d": 7, "D": 3, "batch_size": 4, "n_train": 18}),  # epochs of 4 batches
         ("noise", {"n": 33}),
         ("scale_invariant", {"d_in": 6, "d_out": 4, "batch_size": 3})]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_sample_many_equals_step_by_step(name, options, dtype):
    cpu = torch.device("cpu")
    problem = problems.build(name, options, dtype=dtype)
    one, many = ({"data": problem.make_data(engine.seed_generator(3, "data", cpu)),
                  "gen": engine.seed_generator(3, "stream", cpu)} for _ in range(2))
    expected = [problem.sample(one["data"], one["gen"], t) for t in range(1, 12)]
    chunks = [problem.sample_many(many["data"], many["gen"], range(a, b)) for a, b in [(1, 6), (6, 7), (7, 12)]]
    got = {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}
    for t, batch in enumerate(expected):
        for k, v in batch.items():
            assert torch.equal(got[k][t], v), (t, k)
