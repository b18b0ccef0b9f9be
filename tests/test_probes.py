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


def test_each_probe_records_the_labels_it_declares_and_all_of_them():
    """`toylab list` shows each probe's declared `labels`; AdamW and Muon on a regression (whose θ*
    is known) between them keep every state a probe reads, so together they record every label."""
    from toylab import probes

    recorded = {}
    for optimizer in ("adamw", "muon"):
        c = RunConfig("linear_regression", optimizer, dict(PROBLEM), steps=2, probes=tuple(probes.names()),
                      probe_every=1).resolve()
        for name, table in run([c]).tables.items():
            for column in set(table.columns) - {"run", "config", "step", "param", "index", "value"}:
                recorded.setdefault(name, {}).setdefault(column, set()).update(table[column].astype(str))
    for probe in probes.get(probes.names()):
        assert {k: set(v) for k, v in probe.labels.items()} == recorded.get(probe.name, {}), probe.name


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


def test_float32_norms_match_float64_numpy_per_seed(gen):
    """A float32 step's norms against float64 numpy on the same float32 values, rtol 1e-5 (float32
    sums over 85 coordinates, ≈ 1e-6); θ* per seed with the seeds' configs interleaved."""
    from toylab.problems import build
    from toylab.probes import Context, norms

    p = build("linear_regression", {"d": 16, "D": 5}, dtype=torch.float32)
    data = [p.make_data(torch.Generator().manual_seed(s)) for s in (0, 1)]
    K, step = 3, 4
    before, g, v = (torch.randn(K, 17, 5, generator=gen) for _ in range(3))
    after = before - 0.01 * torch.randn(K, 17, 5, generator=gen)
    v = v.abs()
    hp = {"betas": torch.tensor([[0.9, 0.99]] * K, dtype=torch.float64), "eps": torch.full((K,), 1e-8, dtype=torch.float64),
          "bias_correction": torch.ones(K, dtype=torch.float64)}
    state = {"exp_avg": {"W": g}, "exp_avg_sq": {"W": v}}
    groups = [torch.tensor([0, 2]), torch.tensor([1])]
    ctx = Context(p, "adamw", step, {"W": before}, {"W": after}, {"W": g}, {}, state, {"direction": {"W": g}}, hp,
                  data, groups)
    out = norms.measure(ctx)
    for k in range(K):
        th, b, gk, vk = (x[k].double().numpy() for x in (after, before, g, v))
        optimum = data[0 if k != 1 else 1]["w_opt"].double().numpy()
        A = np.sqrt(vk / (1 - 0.99**step)) + 1e-8
        u = th - b
        want = {"rms_weights": np.sqrt(np.mean(th**2)), "rms_update": np.sqrt(np.mean(u**2)),
                "rms_grad": np.sqrt(np.mean(gk**2)), "rms_direction": np.sqrt(np.mean(gk**2)),
                "grad_to_weights": np.linalg.norm(gk) / np.linalg.norm(b), "linf_weights": np.abs(th).max(),
                "cos_grad_weights": (gk * b).sum() / np.linalg.norm(gk) / np.linalg.norm(b),
                "cos_update_weights": (u * b).sum() / np.linalg.norm(u) / np.linalg.norm(b),
                "adam_grad_to_weights": np.sqrt((gk**2 / A).sum() / (A * b**2).sum()),
                "dist_to_opt": np.linalg.norm(th - optimum)}
        assert {q for q, _ in out} == set(want)
        for quantity, value in want.items():
            assert float(out[(quantity, "W")][k]) == pytest.approx(value, rel=1e-5), (quantity, k)


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


def test_float32_spectra_are_as_accurate_as_their_entries():
    from toylab.probes.spectra import singular_values

    gen = torch.Generator().manual_seed(4)
    a = torch.randn(5, 9, 4, generator=gen, dtype=torch.float64) * torch.logspace(0, -3, 4, dtype=torch.float64)
    exact = np.linalg.svd(a.float().double().numpy(), compute_uv=False)
    for matrices in (a.float(), a.float().mT):
        sigma = singular_values([matrices[:2], matrices[2:]]).numpy()  # a list, concatenated
        np.testing.assert_allclose(sigma, exact, rtol=0, atol=1e-12 * exact.max())


def test_muon_direction_is_nearly_orthogonal_and_sgd_direction_is_not():
    muon = run([config("muon", ["spectra"], hparams={"lr": 1e-2})]).tables["spectra"]
    sgd = run([config("sgd", ["spectra"], hparams={"lr": 1e-3})]).tables["spectra"]
    error = muon[muon.quantity == "orthogonality_error"].value
    sigma = muon[muon.quantity == "direction"].value
    assert error.max() < 1.0 and sigma.between(0.6, 1.25).all()  # the quintic's band around 1
    assert sgd[sgd.quantity == "orthogonality_error"].value.min() > 10 * error.max()


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


# ----- moments (docs/claims.md C12) ----------------------------------------------------------------
def lr_problem(**opts):
    from toylab.problems import build

    return build("linear_regression", {"d": 4, "D": 3, "condition_number": 10.0, **opts}, dtype=torch.float64)


def test_kl_of_identical_gaussians_is_zero_and_known_pair_matches_quadrature():
    from scipy import integrate, stats

    from toylab.theory import diag_gaussian_kl

    mean, var = torch.tensor([[0.3, -1.0]], dtype=torch.float64), torch.tensor([[0.5, 2.0]], dtype=torch.float64)
    assert float(diag_gaussian_kl(mean, var, mean, var, start_dim=1).total) == 0.0
    mean_q, var_q = torch.tensor([[1.0, 0.5]], dtype=torch.float64), torch.tensor([[1.5, 0.7]], dtype=torch.float64)
    expected = 0.0
    for mp, sp, mq, sq in zip(mean[0].tolist(), var[0].tolist(), mean_q[0].tolist(), var_q[0].tolist()):
        p, q = stats.norm(mp, sp**0.5), stats.norm(mq, sq**0.5)
        expected += integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -30, 30, epsabs=1e-13)[0]
    got = diag_gaussian_kl(mean, var, mean_q, var_q, start_dim=1).total
    assert float(got) == pytest.approx(expected, rel=1e-9)


def test_kl_both_is_the_theory_closed_form_both_ways_and_the_floor_is_relative():
    from toylab.probes.moments import diagonal, kl_both
    from toylab.theory import diag_gaussian_kl

    gen = torch.Generator().manual_seed(1)
    mp, mq = (torch.randn(3, 6, generator=gen, dtype=torch.float64) for _ in range(2))  # [K, n]
    sp, sq = (torch.rand(3, 6, generator=gen, dtype=torch.float64) + 0.1 for _ in range(2))
    forward, backward = kl_both(diagonal(mp, sp, 1e-12), diagonal(mq, sq, 1e-12))
    torch.testing.assert_close(forward, diag_gaussian_kl(mp, sp, mq, sq, start_dim=1).total, rtol=1e-12, atol=0)
    torch.testing.assert_close(backward, diag_gaussian_kl(mq, sq, mp, sp, start_dim=1).total, rtol=1e-12, atol=0)
    sq[0, :3] = -(mq[0, :3] ** 2) / 2  # v − m² < 0 on half of config 0's coordinates
    q = diagonal(mq, sq, 1e-3)
    assert q.floored.tolist() == [3, 0, 0]
    second = mq[0, :3] ** 2 + sq[0, :3]
    torch.testing.assert_close(q.var[0, :3], 1e-3 * second)
    forward, _ = kl_both(diagonal(mp, sp, 1e-3), q)
    assert torch.isfinite(forward).all()


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_per_example_gradients_generic_route_equals_autograd_loop_and_fast_path(reduction, gen):
    from toylab.probes import moments

    p = lr_problem(reduction=reduction, batch_size=6)
    data = p.make_data(gen)
    params = {"W": torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)}
    batch = {k: torch.stack([v] * 2) for k, v in p.sample(data, gen, 1).items()}
    grads = p.loss_and_grad(params, batch)[1]
    fast = p.per_example_grads(params, batch)["W"]
    generic_problem = type(p)(**p.option_values())
    object.__setattr__(generic_problem, "dtype", torch.float64)
    object.__setattr__(generic_problem, "per_example_grads", None)
    generic = moments.per_example_grads(generic_problem, params, batch, grads)["W"]
    scale = 1.0 if reduction == "sum" else 1.0 / 6
    loop = torch.empty(2, 6, 5, 3, dtype=torch.float64)
    for k in range(2):
        for b in range(6):
            w = params["W"][k].clone().requires_grad_()
            example = {n: v[k, b:b + 1] for n, v in batch.items()}
            loop[k, b] = scale * torch.autograd.grad(p.loss({"W": w}, example), w)[0]
    torch.testing.assert_close(generic, loop, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast, loop, rtol=1e-12, atol=1e-12)
    for shared in (False, True):
        sums, squares = moments.per_example_grad_moments(p, params, batch, grads, shared)["W"]
        torch.testing.assert_close(sums, fast.sum(1), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(squares, (fast**2).sum(1), rtol=1e-12, atol=1e-12)


def test_batch_statistics_are_mean_and_unbiased_variance_of_one_example_estimates(gen):
    from toylab.probes.moments import batch_statistics

    g = torch.randn(3, 10, 4, generator=gen, dtype=torch.float64)  # terms g_b of G = Σ_b g_b
    mean, var = batch_statistics(g.sum(1), (g**2).sum(1), 10)
    estimates = (10 * g).numpy()
    np.testing.assert_allclose(mean.numpy(), estimates.mean(1), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), estimates.var(1, ddof=1), rtol=1e-10)


@pytest.mark.parametrize("opts", [{"reduction": "sum", "noise": 0.5}, {"reduction": "mean", "rotate": False}])
def test_population_gradient_moments_match_monte_carlo(opts, gen):
    p = lr_problem(batch_size=4, **opts)
    data = p.make_data(gen)
    params = {"W": torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)}
    mu, var = p.population_gradient_moments(params, data)["W"]
    n = 400_000
    x, y = p._draw(data, gen, n)
    r = x @ params["W"] - y  # [K, n, D]
    g = 2 * p._scale(4) * x[None, :, :, None] * r[:, :, None, :]  # [K, n, d+1, D]
    mc_mean, mc_var = g.mean(1), g.var(1)
    fourth = ((g - mc_mean[:, None]) ** 4).mean(1)
    assert ((mc_mean - mu).abs() <= 5 * (var / n).sqrt() + 1e-12).all()
    assert ((mc_var - var).abs() <= 5 * ((fourth - var**2) / n).sqrt() + 1e-12).all()


def test_population_gradient_moments_of_a_finite_dataset_are_its_statistics(gen):
    p = lr_problem(n_train=30, batch_size=5, reduction="mean")
    data = p.make_data(gen)
    params = {"W": torch.randn(1, 5, 3, generator=gen, dtype=torch.float64)}
    mu, var = p.population_gradient_moments(params, data)["W"]
    g = p.per_example_grads(params, {"x": data["x"][None], "y": data["y"][None]})["W"] * 30 / 5  # s of B=5
    torch.testing.assert_close(mu[0], g[0].mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(var[0], g[0].var(0, unbiased=False), rtol=1e-10, atol=1e-12)


def test_adam_weighted_ratio_matches_numpy_and_only_adamw_records_it(gen):
    """‖g‖_{A⁻¹}/‖θ_{t−1}‖_A with A = √(v/(1−β2^t)) + ε (C7), against numpy; bias_correction off skips 1−β2^t."""
    from toylab.probes import Context, norms

    p = lr_problem(batch_size=6, reduction="mean", noise=0.3)
    data = p.make_data(gen)
    K, step = 2, 7
    before = {"W": torch.randn(K, 5, 3, generator=gen, dtype=torch.float64)}
    after = {"W": before["W"] * 0.99}
    grads = {"W": torch.randn(K, 5, 3, generator=gen, dtype=torch.float64)}
    v = torch.rand(K, 5, 3, generator=gen, dtype=torch.float64)
    hp = {"betas": torch.tensor([[0.9, 0.99], [0.9, 0.999]], dtype=torch.float64),
          "eps": torch.tensor([1e-3, 1e-8], dtype=torch.float64),
          "bias_correction": torch.tensor([1.0, 0.0], dtype=torch.float64)}
    state = {"exp_avg": {"W": grads["W"]}, "exp_avg_sq": {"W": v}}
    ctx = Context(p, "adamw", step, before, after, grads, {}, state, {}, hp, [data], [torch.arange(K)])
    out = norms.measure(ctx)[("adam_grad_to_weights", "W")]
    for k, correction in enumerate([1 - 0.99**step, 1.0]):
        A = np.sqrt(v[k].numpy() / correction) + hp["eps"][k].item()
        g, x = grads["W"][k].numpy(), before["W"][k].numpy()
        assert float(out[k]) == pytest.approx(np.sqrt((g**2 / A).sum() / (A * x**2).sum()), rel=1e-12)
    sgd = Context(p, "sgd", step, before, after, grads, {}, {"momentum_buffer": {"W": grads["W"]}}, {}, hp,
                  [data], [torch.arange(K)])
    assert ("adam_grad_to_weights", "W") not in norms.measure(sgd)


def test_moments_probe_against_a_numpy_reference(gen):
    from toylab.probes import Context, moments

    p = lr_problem(batch_size=6, reduction="mean", noise=0.3)
    data = p.make_data(gen)
    K, step = 2, 7
    params = {"W": torch.randn(K, 5, 3, generator=gen, dtype=torch.float64)}
    batch = {k: torch.stack([v] * K) for k, v in p.sample(data, gen, 1).items()}
    grads = p.loss_and_grad(params, batch)[1]
    m = grads["W"] + 0.1 * torch.randn(K, 5, 3, generator=gen, dtype=torch.float64)
    v = m**2 + torch.rand(K, 5, 3, generator=gen, dtype=torch.float64)
    v[0, 0, 0] = 0.5 * m[0, 0, 0] ** 2  # v − m² < 0: floored
    betas = torch.tensor([[0.9, 0.99], [0.5, 0.9]], dtype=torch.float64)
    ctx = Context(p, "adamw", step, params, params, grads, batch, {"exp_avg": {"W": m}, "exp_avg_sq": {"W": v}},
                  {}, {"betas": betas}, [data], [torch.arange(K)])
    out = moments.measure(ctx)

    g = 6 * p.per_example_grads(params, batch)["W"].numpy()  # one-example estimates of G
    mean_p, var_p = g.mean(1), g.var(1, ddof=1) / 6
    for k in range(K):
        b1, b2 = betas[k].tolist()
        mq, vq = m[k].numpy() / (1 - b1**step), v[k].numpy() / (1 - b2**step)
        sq = np.maximum(vq - mq**2, moments.FLOOR_ULPS * np.finfo(np.float64).eps * vq)
        kl = 0.5 * (var_p[k] / sq + (mq - mean_p[k]) ** 2 / sq - 1 + np.log(sq / var_p[k])).sum()
        assert float(out[("kl_pq", "W", "bias_corrected", "minibatch")][k]) == pytest.approx(kl, rel=1e-10)
        kl_qp = 0.5 * (sq / var_p[k] + (mq - mean_p[k]) ** 2 / var_p[k] - 1 + np.log(var_p[k] / sq)).sum()
        assert float(out[("kl_qp", "W", "bias_corrected", "minibatch")][k]) == pytest.approx(kl_qp, rel=1e-10)
    assert out[("floored_fraction", "W", "raw", "minibatch")].tolist() == [1 / 15, 0.0]
    assert ("kl_pq", "W", "raw", "population") in out


def numpy_kls(mean_p, var_p, mean_q, var_q):
    """KL(p‖q) and KL(q‖p) of diagonal Gaussians `[n]`, float64 numpy, term by term."""
    d2 = (mean_q - mean_p) ** 2
    forward = 0.5 * (var_p / var_q + d2 / var_q - 1 + np.log(var_q / var_p)).sum()
    backward = 0.5 * (var_q / var_p + d2 / var_p - 1 + np.log(var_p / var_q)).sum()
    return forward, backward


def test_moments_probe_in_float32_matches_a_float64_numpy_reference(gen):
    """A float32 run's moments probe (float64 batch sums, the rest in float32) against every
    quantity, moments and reference recomputed in float64 numpy from the same float32 inputs
    (per-example gradients, m, v; the population law from the float64 problem). Tolerance 1e-4
    relative: float32 terms of ≈ 1e-7 relative error summed over 85 coordinates, with Σ ln s and
    Σ s_p/s_q ≈ n cancelling down to the KL; one coordinate per config floored (v − m² < 0)."""
    from toylab.problems import build
    from toylab.probes import Context, moments

    K, step, B = 3, 7, 12
    options = {"d": 16, "D": 5, "batch_size": B, "noise": 0.5}
    exact = build("linear_regression", options, dtype=torch.float64)
    p = build("linear_regression", options, dtype=torch.float32)
    data = {k: x.float() for k, x in exact.make_data(gen).items()}
    batch = {k: torch.stack([x] * K) for k, x in p.sample(data, gen, 1).items()}
    params = {"W": torch.randn(K, 17, 5, generator=gen)}
    grads = p.loss_and_grad(params, batch)[1]
    m = torch.randn(K, 17, 5, generator=gen)
    v = m**2 + 0.1 + torch.rand(K, 17, 5, generator=gen)
    v[:, 3, 1] = 0.5 * m[:, 3, 1] ** 2  # v − m² < 0: floored in the raw q
    betas = torch.tensor([[0.9, 0.99], [0.5, 0.9], [0.9, 0.999]], dtype=torch.float64)
    ctx = Context(p, "adamw", step, params, params, grads, batch, {"exp_avg": {"W": m}, "exp_avg_sq": {"W": v}},
                  {}, {"betas": betas}, [data], [torch.arange(K)])
    out = moments.measure(ctx)

    x, W = batch["x"][0].double().numpy(), params["W"].double().numpy()
    residual = x @ W - batch["y"][0].double().numpy()  # [K, B, D]
    estimates = B * 2 * x[None, :, :, None] * residual[:, :, None, :]  # ĝ_b = B·g_b, g_b = 2·x_b r_bᵀ (reduction sum)
    mu, sigma2 = exact.population_gradient_moments({"W": params["W"].double()}, {k: x.double() for k, x in data.items()})["W"]
    delta = moments.FLOOR_ULPS * np.finfo(np.float32).eps
    n = 17 * 5

    def floored(var, second):
        return np.maximum(var, delta * second)

    for k in range(K):
        g_mean, g_var = estimates[k].mean(0), estimates[k].var(0, ddof=1)
        references = {"minibatch": (g_mean, g_var / B), "per_example": (g_mean, g_var),
                      "population": (B * mu[k].numpy(), B * sigma2[k].numpy())}
        b1, b2 = betas[k].tolist()
        mk, vk = m[k].double().numpy(), v[k].double().numpy()
        for which, (mq, vq) in {"raw": (mk, vk), "bias_corrected": (mk / (1 - b1**step), vk / (1 - b2**step))}.items():
            sq = floored(vq - mq**2, vq)
            fraction = float(out[("floored_fraction", "W", which, "minibatch")][k])
            want = np.mean(vq - mq**2 <= delta * vq)
            assert fraction == pytest.approx(want, rel=1e-6) and (which != "raw" or want == 1 / n)
            for reference, (mp, vp) in references.items():
                sp = floored(vp, mp**2 + vp)
                forward, backward = numpy_kls(mp.ravel(), sp.ravel(), mq.ravel(), sq.ravel())
                for quantity, want in {"kl_pq": forward, "kl_qp": backward, "kl_pq_per_coord": forward / n,
                                       "kl_qp_per_coord": backward / n}.items():
                    got = float(out[(quantity, "W", which, reference)][k])
                    assert got == pytest.approx(want, rel=1e-4), (quantity, which, reference, k)


def test_moments_probe_records_adamw_and_skips_optimizers_without_two_moments():
    adam = run([config("adamw", probes=["moments"], hparams={"lr": 1e-2})]).tables["moments"]
    assert list(adam.columns) == ["config", "step", "quantity", "param", "moments", "reference", "value"]
    assert set(adam.reference) == {"minibatch", "per_example", "population"}
    first = adam[(adam.step == 1) & (adam.quantity == "floored_fraction") & (adam.moments == "bias_corrected")]
    assert (first.value == 1.0).all(), "zero init + bias correction: v̂_1 − m̂_1² = 0 everywhere"
    later = adam[(adam.step == 20) & (adam.quantity == "kl_pq")]
    assert np.isfinite(later.value).all() and (later.value > 0).all()
    assert "moments" not in run([config("sgd", probes=["moments"], hparams={"momentum": 0.9})]).tables


# ----- probes in runs ----------------------------------------------------------------------------
ALL = ["norms", "spectra", "moments"]


@pytest.mark.parametrize("optimizer, hparams", [("adamw", {"lr": 3e-2}), ("sgd", {"lr": 1e-3, "momentum": 0.9}),
                                                ("signsgd", {"lr": 1e-2}), ("muon", {"lr": 1e-2})])
def test_probes_do_not_change_the_trajectory(optimizer, hparams):
    plain = run([config(optimizer, hparams=hparams), config(optimizer, hparams=hparams, seed=1)])
    probed = run([config(optimizer, ALL, hparams=hparams), config(optimizer, ALL, hparams=hparams, seed=1)])
    torch.testing.assert_close(probed.params["W"], plain.params["W"], rtol=0, atol=0)
    pd.testing.assert_frame_equal(probed.metrics, plain.metrics, rtol=0, atol=0)
    assert not plain.tables and "norms" in probed.tables


def test_diverged_config_has_nan_probe_rows_after_it_froze():
    result = run([config("sgd", ["norms", "spectra"], hparams={"lr": lr}, steps=100) for lr in (1e-3, 10.0)])
    stop = result.diverged_step[1]
    assert stop is not None
    for table in result.tables.values():
        late = table[(table.config == 1) & (table.step >= stop)]
        assert len(late) and late.value.isna().all()
        assert table[table.config == 0].value.notna().any()


def test_run_configs_writes_a_table_per_probe(tmp_path):
    from toylab import store

    configs = run_configs([config(probes=ALL, seed=s) for s in (0, 1)], tmp_path, device="cpu")
    for run in store.runs_of(tmp_path, (c.hash() for c in configs)):
        for name in ALL:
            table = pd.read_parquet(run.where / f"{name}.parquet", filters=[("run", "==", run.name)])
            assert "config" not in table.columns and len(table) and sorted(table.step.unique()) == [1, 5, 10, 15, 20]
    spectra = store.load_table(tmp_path, configs, "spectra")
    assert set(spectra.seed) == {0, 1}


def test_float32_spectra_of_a_non_finite_matrix_are_nan_and_the_others_exact():
    from toylab.probes import spectra

    a = torch.randn(3, 5, 4, dtype=torch.float64)
    a32 = a.float()
    a32[1, 0, 0] = float("nan")
    got = spectra.singular_values([a32])
    assert torch.isnan(got[1]).all()
    want = torch.linalg.svdvals(a32.double()[[0, 2]])
    assert torch.allclose(got[[0, 2]], want, rtol=1e-6)
