"""A config's numbers do not depend on which configs share its batch (README, What is
reproducible): the kernels, the engine over every problem route, optimizer and dtype, and the
command line's shards, resumed sweeps and single runs."""
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from toylab import batched, engine, runtime, store
from toylab.cli import main
from toylab.config import RunConfig
from toylab.experiments import run_configs
from toylab.grids import grid

PROBLEM = {"d": 12, "D": 4, "condition_number": 10.0, "batch_size": 8}


def sweep(optimizer, dtype, K, hparams):
    """K configs: lrs × 4 seeds; config 0 (seed 0, the first lr) is the one compared."""
    base = RunConfig("linear_regression", optimizer, dict(PROBLEM), dict(hparams), steps=60, metric_every=20,
                     dtype=dtype)
    seeds = [0, 1, 2, 3][:K]
    lrs = [hparams.get("lr", 1e-2)] + np.geomspace(1e-4, 1e-1, max(K // len(seeds) - 1, 0)).tolist()
    return [c.resolve() for c in grid(base, {"hparams.lr": lrs, "seed": seeds})][:K]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer, hparams", [("adamw", {"lr": 1e-2}), ("sgd", {"lr": 1e-3, "momentum": 0.9}),
                                                ("signsgd", {"lr": 1e-3}), ("muon", {"lr": 0.05})])
def test_config_alone_equals_config_in_a_sweep(optimizer, hparams, dtype):
    results = {K: engine.run_batch(sweep(optimizer, dtype, K, hparams)) for K in (1, 16, 64)}
    alone = results[1]
    for K in (16, 64):
        assert sweep(optimizer, dtype, K, hparams)[0] == sweep(optimizer, dtype, 1, hparams)[0]
        m = results[K].metrics
        torch.testing.assert_close(torch.tensor(m[m.config == 0].value.to_numpy()),
                                   torch.tensor(alone.metrics.value.to_numpy()), rtol=0, atol=0, equal_nan=True)
        assert torch.equal(results[K].params["W"][0], alone.params["W"][0]), K


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_config_keeps_its_bits_where_its_seed_is_one_gemm(dtype):
    """The headline shape (d = 64, D = 16, batch 32), where each seed's products are one GEMM over
    its configs' rows (`batched.group_mm`) when the check allows: config 0 alone, among 16 and
    among 64 configs of its seed (K = 64, 256)."""
    base = RunConfig("linear_regression", "adamw", {"d": 64, "D": 16, "batch_size": 32}, {"lr": 1e-2}, steps=20,
                     metric_every=10, dtype=dtype)
    results = {}
    for K in (1, 64, 256):
        lrs = [1e-2] + np.geomspace(1e-4, 1e-1, max(K // 4 - 1, 0)).tolist()
        results[K] = engine.run_batch([c.resolve() for c in grid(base, {"hparams.lr": lrs, "seed": [0, 1, 2, 3]})][:K])
    for K in (64, 256):
        m = results[K].metrics
        assert np.array_equal(m[m.config == 0].value.to_numpy(), results[1].metrics.value.to_numpy(), equal_nan=True), K
        assert torch.equal(results[K].params["W"][0], results[1].params["W"][0]), K


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generic_autograd_route_is_batch_independent(dtype):
    """scale_invariant has no fast path: vmap(grad(loss)) over K."""
    base = RunConfig("scale_invariant", "adamw", {"d_in": 8, "d_out": 4, "batch_size": 8, "eval_size": 64},
                     {"lr": 1e-2}, steps=40, metric_every=20, dtype=dtype)
    final = {}
    for K in (1, 16, 64):
        seeds = [0, 1, 2, 3][:K]
        lrs = [1e-2] + np.geomspace(1e-4, 1e-1, max(K // len(seeds) - 1, 0)).tolist()
        final[K] = engine.run_batch([c.resolve() for c in grid(base, {"hparams.lr": lrs, "seed": seeds})][:K])
    for K in (16, 64):
        assert torch.equal(final[K].params["W"][0], final[1].params["W"][0]), K


@pytest.mark.parametrize("optimizer, hparams", [("adamw", {"lr": 1e-2}), ("sgd", {"lr": 1e-3, "momentum": 0.9})])
def test_eager_step_is_batch_independent_too(optimizer, hparams):
    """--eager (the tests above run the default, fused step): torch's ops, each with its own
    vectorised body and tail over 52 elements per config; a config's float32 numbers are still
    the same at K = 1, 16, 64."""
    final = {K: engine.run_batch([dataclasses.replace(c, compile=False) for c in sweep(optimizer, "float32", K, hparams)])
             for K in (1, 16, 64)}
    assert not final[1].fused and engine.run_batch(sweep(optimizer, "float32", 1, hparams)).fused
    for K in (16, 64):
        assert torch.equal(final[K].params["W"][0], final[1].params["W"][0]), K


# ----- the kernels: each config's product is its own ------------------------------------------------
# [m, k] @ [k, n] of the problems' products (linear regression at d=8 D=2, the defaults and d=64
# D=16 with batch 32, its loss as a [1, D·B] @ [D·B, 1] product, Newton–Schulz's Gram matrices)
SHAPES = [(2, 9, 32), (2, 32, 9), (4, 17, 32), (4, 32, 17), (16, 65, 32), (16, 32, 65), (1, 64, 1), (1, 512, 1),
          (4, 4, 17), (16, 16, 65), (10, 65, 32)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_bmm_gives_each_matrix_the_same_bits_wherever_it_lies(m, k, n, dtype):
    """One matrix alone, at every place of batches of 2, 5 and 64, written at every offset of an
    output buffer, against a shared (stride-0) operand and as a transposed view: the same bits.
    Without the padding of a lone matrix or MKL's reproducible mode some of these differ."""
    gen = torch.Generator().manual_seed(m * k * n)
    a = torch.randn(70, m, k, generator=gen, dtype=dtype)
    b = torch.randn(70, k, n, generator=gen, dtype=dtype)
    a_t = a.mT.contiguous().mT  # each matrix stored transposed, as linear regression's Wᵀ
    for i in (0, 1, 3, 4):
        alone = batched.bmm(a[i:i + 1], b[i:i + 1])[0]
        shared_b = batched.bmm(a[i:i + 1], batched.shared(b[0], 1))[0]
        transposed = batched.bmm(a_t[i:i + 1], b[i:i + 1])[0]
        for K in (2, 5, 64):
            start = max(0, i - (K - 1) // 2)  # i in the middle of the batch
            for offset in (0, 1, 3):
                out = torch.empty(K + 7, m, n, dtype=dtype)[offset:offset + K]
                assert torch.equal(batched.bmm(a[start:start + K], b[start:start + K], out=out)[i - start], alone)
            assert torch.equal(batched.bmm(a[i:i + K], batched.shared(b[0], K))[0], shared_b)
            assert torch.equal(batched.bmm(a_t[i:i + K], b[i:i + K])[0], transposed)
            c = torch.randn(K, m, n, generator=gen, dtype=dtype)
            lone = batched.baddbmm(c[:1], a[i:i + 1], b[i:i + 1], beta=-4.775, alpha=2.0315)
            assert torch.equal(batched.baddbmm(c, a[i:i + K], b[i:i + K], beta=-4.775, alpha=2.0315)[0], lone[0])


# per-seed groups of linear regression (configs of m rows sharing a [k, n] batch operand): d = 64
# D = 16 batch 32 (its residual Wᵀ·Xᵀ, Xᵀ a transposed view, and gradient Rᵀ·X), d = 12 D = 4 batch 8,
# d = 8 D = 2 (where the GEMM rounds otherwise: group_mm must fall back)
GROUPS = [(16, 65, 32, True), (16, 32, 65, False), (4, 13, 8, True), (4, 8, 13, False), (2, 9, 8, True), (2, 8, 9, False)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m, k, n, transposed", GROUPS)
def test_group_mm_gives_each_config_its_own_products_bits(m, k, n, transposed, dtype):
    """A config's rows of `group_mm` (one GEMM per group where the check allows, else a bmm) are
    those of its product alone, for 1 and 3 groups of 1 to 300 configs, at every place in the
    group and at odd offsets of the buffers, on other operands than the check's."""
    gen = torch.Generator().manual_seed(m * k * n)
    a = torch.randn(3, 301, m, k, generator=gen, dtype=dtype)
    b = torch.randn(3, n, k, generator=gen, dtype=dtype).mT if transposed else torch.randn(3, k, n, generator=gen, dtype=dtype)
    alone = torch.stack([torch.stack([batched.bmm(a[s, i:i + 1], batched.shared(b[s], 1))[0] for i in range(301)])
                         for s in range(3)])
    for S in (1, 3):
        for g in (1, 2, 5, 16, 64, 300):
            for offset in (0, 1):
                rows = slice(offset, offset + g)
                x = a[:S, rows].contiguous()
                out = torch.empty(S * g + 3, m, n, dtype=dtype)[offset:offset + S * g].view(S, g, m, n)
                assert torch.equal(batched.group_mm(x, b[:S], out=out), alone[:S, rows]), (S, g)


def test_group_mm_takes_the_bmm_where_the_gemm_rounds_otherwise(monkeypatch):
    """A GEMM whose rows differ from the per-config products in one last bit fails the check."""
    a, b = torch.randn(2, 8, 4, 13), torch.randn(2, 13, 8)
    bmm = torch.bmm
    monkeypatch.setattr(batched, "_CHECKED", {})
    monkeypatch.setattr(torch, "bmm", lambda x, y, out=None: (
        bmm(x, y, out=out) if x.shape[1] == 4 else torch.nextafter(bmm(x, y), torch.tensor(torch.inf), out=out)))
    assert not batched.gemm_is_per_config(2, 8, 4, b)
    expected = torch.stack([bmm(a[s], b[s].expand(8, 13, 8)) for s in range(2)])
    assert torch.equal(batched.group_mm(a, b, out=torch.empty(2, 8, 4, 8)), expected)


def test_mkl_runs_in_its_reproducible_mode():
    """MKL_CBWR=AUTO was switched on when toylab was imported (before MKL computed anything)."""
    if runtime._mkl_service("mkl_serv_cbwr_get") is None:
        pytest.skip("torch without MKL")
    assert runtime.reproducible_blas()


# ----- the engine: one config, any batch ---------------------------------------------------------------
ROUTES = {  # problem, options: every gradient route and problem family
    "linreg d=8 D=2": ("linear_regression", {"d": 8, "D": 2}),
    "linreg defaults": ("linear_regression", {}),
    "linreg d=64 D=16": ("linear_regression", {"d": 64, "D": 16}),
    "linreg finite data": ("linear_regression", {"d": 8, "D": 2, "n_train": 64, "batch_size": 16}),
    "autograd scale_invariant": ("scale_invariant", {"d_in": 9, "d_out": 2, "batch_size": 32, "eval_size": 256}),
    "autograd scale_invariant_mlp": ("scale_invariant_mlp", {"d_in": 8, "width": 8, "d_out": 4, "batch_size": 8,
                                                             "eval_size": 64}),
    "dataset digits_softmax": ("digits_softmax", {}),
    "dataset digits_mlp": ("digits_mlp", {"hidden": 16}),
    "dataset diabetes": ("diabetes", {"l2": 0.1}),
    "noise": ("noise", {"n": 100}),
}
OPTIMIZERS = {"adamw": ({"lr": 1e-2}, ("norms", "spectra", "moments")),
              "sgd": ({"lr": 1e-3, "momentum": 0.9}, ("norms",)),
              "signsgd": ({"lr": 1e-3}, ("norms",)),
              "muon": ({"lr": 0.05}, ("norms", "spectra", "orthogonality"))}


def batches(problem, options, optimizer, dtype):
    """The subject (seed 1, the first lr) alone and in batches that hold it at other places, with
    seeds holding equal and unequal numbers of configs, and as the only config of its seed."""
    hparams, probes = OPTIMIZERS[optimizer]
    lr = hparams["lr"]

    def config(seed, factor):
        return RunConfig(problem, optimizer, dict(options), {**hparams, "lr": lr * factor}, steps=30, metric_every=10,
                         dtype=dtype, seed=seed, probes=probes, probe_every=10).resolve()

    subject, others = config(1, 1.0), [0.5, 2.0, 0.25, 4.0, 0.125]
    return subject, {
        "alone": [subject],
        "a 4 lrs x 2 seeds sweep": [config(s, f) for f in [1.0] + others[:3] for s in (0, 1)],
        "seeds of 5 and 3 configs": [config(0, f) for f in others] + [config(1, 2.0), subject, config(1, 8.0)],
        "alone in its seed": [config(0, f) for f in others[:3]] + [subject],
        "one seed of 6": [config(1, f) for f in others] + [subject],
    }


def tables_of(result, i):
    """Config i's rows of every table (metrics and probes), its final params and diverged step."""
    frames = {name: frame[frame.config == i].drop(columns="config").reset_index(drop=True)
              for name, frame in {"metrics": result.metrics, **result.tables}.items()}
    return frames, {k: p[i] for k, p in result.params.items()}, result.diverged_step[i]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("route", ROUTES)
def test_a_config_has_the_same_numbers_in_any_batch(route, optimizer, dtype):
    subject, cases = batches(*ROUTES[route], optimizer, dtype)
    expected = None
    for case, configs in cases.items():
        frames, params, diverged = tables_of(engine.run_batch(configs), configs.index(subject))
        if expected is None:
            expected = frames, params, diverged
            continue
        assert frames.keys() == expected[0].keys(), case
        for name, frame in frames.items():
            pd.testing.assert_frame_equal(frame, expected[0][name], check_exact=True, obj=f"{name} ({case})")
        assert all(torch.equal(p, expected[1][k]) for k, p in params.items()), case
        assert diverged == expected[2], case


# ----- the command line: shards, resumed sweeps and single runs ---------------------------------------
SWEEP = ["linear_regression", "--optimizer", "adamw", "--lr", "1e-3:1e-1:8", "--seeds", "0-1", "--steps", "100",
         "--metric-every", "10", "--device", "cpu"]
CLI_SHAPES = {"d=8 D=2": ["-p", "d=8", "-p", "D=2"], "defaults": [], "d=48 D=12": ["-p", "d=48", "-p", "D=12"]}


def toylab(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def run_tables(root):
    """{config hash: its metrics table}, for every finished run under `root`."""
    runs = store.runs_in(root)
    return {name: store.read([runs[name]]).drop(columns="run") for name in sorted(runs)}


@pytest.fixture(params=[(shape, dtype) for shape in CLI_SHAPES for dtype in ("float32", "float64")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def unsharded(request, tmp_path):
    """The 16-config sweep (8 lrs × 2 seeds) run whole, and its arguments."""
    shape, dtype = request.param
    args = [*SWEEP, *CLI_SHAPES[shape], "--dtype", dtype]
    toylab("sweep", *args, "--out", tmp_path / "whole")
    tables = run_tables(tmp_path / "whole")
    assert len(tables) == 16
    return args, tables


def assert_same_runs(tables, expected):
    assert tables.keys() <= expected.keys() and tables
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, expected[name], check_exact=True, obj=name)


def test_shards_give_the_unsharded_numbers(unsharded, tmp_path):
    args, expected = unsharded
    for shard in ("0/2", "1/2"):
        toylab("sweep", *args, "--shard", shard, "--out", tmp_path / "sharded")
    tables = run_tables(tmp_path / "sharded")
    assert len(tables) == 16
    assert_same_runs(tables, expected)


def test_a_resumed_sweep_recomputes_deleted_runs_to_the_same_numbers(unsharded, tmp_path):
    args, expected = unsharded
    root = tmp_path / "resumed"
    deleted = sorted(expected)[::3]  # 6 of 16: a smaller batch, its seeds holding unequal numbers
    kept = [RunConfig.from_dict(run.config) for name, run in store.runs_in(tmp_path / "whole").items()
            if name not in deleted]
    run_configs(kept, root, device="cpu")  # the sweep as it stood before, without the deleted runs
    toylab("sweep", *args, "--out", root)
    assert_same_runs({name: table for name, table in run_tables(root).items() if name in deleted}, expected)


def test_a_single_run_gives_its_numbers_inside_the_sweep(unsharded, tmp_path):
    args, expected = unsharded
    options = args[args.index("--steps"):]  # steps, metric_every, device, shape, dtype
    for lr, seed in ((1e-3, 0), (0.0517947467923121, 1)):
        toylab("run", "linear_regression", "--optimizer", "adamw", "--lr", lr, "--seed", seed, *options,
               "--out", tmp_path / "single")
    tables = run_tables(tmp_path / "single")
    assert len(tables) == 2
    assert_same_runs(tables, expected)
